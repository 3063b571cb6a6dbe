"""`bench archive verify`: every run against its manifest, every manifest against the ledger,
the ledger's chain against itself, and optionally its head against one a lab kept elsewhere.

    >>> import tempfile
    >>> audit(Path(tempfile.mkdtemp())).intact
    True

What each check catches: a file altered, missing or added (manifest); a manifest deleted or
rewritten together with a file (its hash in the ledger); a run deleted or its verdict folder
renamed (a ledger entry without its folder, a folder without its entry); an entry edited or
removed (the chain); the whole ledger rewritten (the head kept elsewhere, `--head`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench import ledger, signing
from bench.archive import MANIFEST, RECORD, Problem, file_digest, run_dirs, verify
from bench.record import load_record


@dataclass
class Audit:
    runs: dict[str, list[Problem]] = field(default_factory=dict)  # folder -> its problems
    chain: list[str] = field(default_factory=list)
    head: dict | None = None

    @property
    def intact(self) -> bool:
        return not self.chain and not any(self.runs.values())

    @property
    def bad_runs(self) -> int:
        return sum(bool(problems) for problems in self.runs.values())


def _check_entry(root: Path, entry: dict, public_key: str | None) -> list[Problem]:
    run = root / str(entry.get("run", ""))
    folder = str(entry.get("run"))
    if not run.is_dir():
        return [Problem("missing", folder, "in the ledger but not on disk: deleted or renamed")]
    manifest = run / MANIFEST
    if not manifest.exists():
        return [Problem("manifest", folder, "deleted")]
    problems = []
    if file_digest(manifest) != entry.get("manifest_sha256"):
        problems.append(Problem("manifest", folder, "rewritten since the run was archived"))
    problems += verify(run)
    label = load_record(run / RECORD).label if (run / RECORD).exists() else None
    if label is not None and not run.name.split("-")[0].endswith(f"_{label}"):
        problems.append(Problem("verdict", folder, f"the record's verdict is {label}"))
    key = entry.get("public_key")
    if public_key and key != public_key:
        problems.append(Problem("signature", folder, "not signed with the required key"))
    elif key:
        reason = signing.check(manifest, key)
        if reason:
            problems.append(Problem("signature", folder, reason))
    return problems


def audit(root: Path, kept_head: str | None = None, public_key: str | None = None) -> Audit:
    entries, chain_problems = ledger.chain(root)
    result = Audit(chain=chain_problems, head=entries[-1] if entries else None)
    for entry in entries:
        result.runs[str(entry.get("run"))] = _check_entry(root, entry, public_key)
    for run in run_dirs(root):
        folder = run.relative_to(root).as_posix()
        if folder not in result.runs:
            result.runs[folder] = [Problem("unledgered", folder,
                                           "not in the ledger: added or renamed after archiving")]
    if kept_head and kept_head not in {entry.get("hash") for entry in entries}:
        result.chain.append(f"the head you kept ({kept_head[:16]}…) is not in the ledger: "
                            "the ledger was rewritten or cut")
    return result


def adopt(root: Path) -> list[tuple[str, str]]:
    """Ledger the runs archived before the ledger existed, each whose files still match its
    manifest (entry marked `adopted`); (folder, why not) for those left out. What happened to an
    adopted run before today cannot be vouched for: adopt once, when upgrading, then keep the
    head."""
    from bench import archive

    refused = []
    with archive.locked(root):
        for folder, problems in audit(root).runs.items():
            if [p.kind for p in problems] != ["unledgered"]:
                continue
            run = root / folder
            found = verify(run)
            if found:
                refused.append((folder, "; ".join(str(p) for p in found)))
                continue
            label = load_record(run / RECORD).label
            ledger.append(root, folder, file_digest(run / MANIFEST), label, {"adopted": True})
    return refused
