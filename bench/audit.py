"""`bench archive verify`: every run against its manifest, every manifest against the ledger,
the ledger's chain against itself, and optionally its head against one a lab kept elsewhere.

    >>> import tempfile
    >>> audit(Path(tempfile.mkdtemp())).intact
    True

What each check catches: a file altered, missing or added (manifest); a manifest deleted or
rewritten together with a file (its hash in the ledger); a run deleted or its verdict folder
renamed (a ledger entry without its folder, a folder without its entry); an entry edited or
removed (the chain); the whole ledger rewritten (the head kept elsewhere, `--head`); the index
database edited (it is derived: compared with one rebuilt from the records, so `bench archive
query` and the pages cannot say what no record says); a killed run left unarchived in
`.incoming` (its process is gone: `bench archive index` archives it).
"""

from __future__ import annotations

import fcntl
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from bench import archive, index_db, ledger, signing
from bench.archive import MANIFEST, RECORD, Problem, file_digest, run_dirs, verify
from bench.record import load_record


@dataclass
class Audit:
    runs: dict[str, list[Problem]] = field(default_factory=dict)  # folder -> its problems
    chain: list[str] = field(default_factory=list)
    heads: dict[str, dict] = field(default_factory=dict)  # ledger file -> its last entry
    archive: list[Problem] = field(default_factory=list)  # index rows of no run, stranded runs
    index_checked: bool = False  # an index database was there and compared with the records

    @property
    def intact(self) -> bool:
        return not self.chain and not self.archive and not any(self.runs.values())

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


def _index(root: Path, result: Audit) -> None:
    """The index database against one rebuilt from the records: a difference goes to its run's
    problems (to the archive's when no such run is on disk), unless the run has problems
    already, which explain it. Opened read-only: verifying changes nothing."""
    path = root / index_db.DATABASE
    lab = index_db.in_lab_database()
    if not lab and not path.exists():
        return
    result.index_checked = True
    rebuilt = index_db.connect(None)
    index_db.replace_all(rebuilt, archive.index_rows(
        root, [run.relative_to(root).as_posix() for run in archive.find_runs(root)]))
    try:  # only read: the lab's database through the same queries, a file opened read-only
        kept = (index_db.connect(root) if lab
                else sqlite3.connect(f"file:{path}?mode=ro", uri=True))
        found = index_db.differences(kept, rebuilt)
    except sqlite3.Error as error:
        result.archive.append(Problem("index", index_db.DATABASE, f"unreadable: {error}"))
        return
    explained = {folder for folder, problems in result.runs.items() if problems}
    for folder, detail in found:
        if folder not in explained:
            result.runs.get(folder, result.archive).append(
                Problem("index", folder or index_db.DATABASE, detail))


def _stranded(root: Path) -> list[Problem]:
    """Staged runs whose process is gone (nobody holds their lock): not archived yet."""
    incoming = root / archive.INCOMING
    found = []
    for folder in sorted(p for p in incoming.glob("*") if p.is_dir()) if incoming.is_dir() else []:
        lock = incoming / f"{folder.name}.lock"
        if lock.exists():
            with lock.open("rb") as held:
                try:  # shared and at once: never waits for, nor stops, a live run
                    fcntl.flock(held, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
        found.append(Problem("unarchived", folder.relative_to(root).as_posix(),
                             "a killed run left in .incoming: `bench archive index` archives it"))
    return found


def audit(root: Path, kept_head: str | None = None, public_key: str | None = None) -> Audit:
    entries, chain_problems = ledger.chain(root)
    result = Audit(chain=chain_problems, heads=ledger.heads(root))
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
    _index(root, result)
    result.archive += _stranded(root)
    return result


def adopt(root: Path) -> list[tuple[str, str]]:
    """Ledger the runs archived before the ledger existed, each whose files still match its
    manifest (entry marked `adopted`); (folder, why not) for those left out. What happened to an
    adopted run before today cannot be vouched for: adopt once, when upgrading, then keep the
    head."""
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
