"""`bench archive verify [DIR] [--head HASH] [--key PUBLIC]`: what it prints and exits with.

On the archive root: every run of the ledger and every run folder on disk, each `ok` or
`ALTERED` with its problems (the index's differences from its record among them), the
ledger's chain problems, the archive's own (index rows of no run, killed runs left in
`.incoming`), `N of M runs intact`, whether the index matches the records, and each chain's head
to keep elsewhere. On one run folder: that run against its manifest and its ledger entry.
Exit 0 only when nothing is wrong; 1 when anything is (or nothing is archived there).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench import archive, ledger
from bench.audit import Audit, audit
from bench.exitcodes import ExitCode


def _one_run(run: Path, kept_head: str | None, key: str | None) -> Audit:
    root = run.parent.parent
    whole = audit(root, kept_head, key)
    folder = run.resolve().relative_to(root.resolve()).as_posix()
    problems = whole.runs.get(folder)
    if problems is None:  # not ledgered and not a run-shaped name: its manifest alone
        problems = archive.verify(run)
    return Audit({folder: problems}, whole.chain, whole.heads,
                 index_checked=whole.index_checked)


def run(target: Path, kept_head: str | None = None, key: str | None = None) -> int:
    if (target / archive.MANIFEST).exists() or archive.RECORD in {p.name for p in
                                                                   _listing(target)}:
        root, result = target.parent.parent, _one_run(target, kept_head, key)
    else:
        root, result = target, audit(target, kept_head, key)
    if not result.runs and not result.chain and not result.archive:
        print(f"bench: no archived run under {target}", file=sys.stderr)
        return ExitCode.FAIL
    for folder, problems in sorted(result.runs.items()):
        print(f"{'ALTERED' if problems else 'ok':8} {root / folder}")
        for problem in problems:
            print(f"         {problem}")
    for problem in result.chain:
        print(f"LEDGER   {problem}")
    for problem in result.archive:
        print(f"ARCHIVE  {problem}")
    total = len(result.runs)
    print(f"{total - result.bad_runs} of {total} run(s) intact"
          + ("" if not result.chain else f"; ledger: {len(result.chain)} problem(s)")
          + ("" if not result.archive else f"; archive: {len(result.archive)} problem(s)"))
    index = [p for problems in (*result.runs.values(), result.archive) for p in problems
             if p.kind == "index"]
    if not result.index_checked:
        print(f"index: none in {root}")
    elif index:
        print(f"index: {len(index)} difference(s) from the records; `bench archive index "
              "--rebuild` rebuilds it from them")
    else:
        print("index: matches the records")
    for name, head in result.heads.items():
        print(f"ledger head{'' if name == ledger.LEDGER else f' of {name}'}: "
              f"entry {head.get('seq')} {head.get('hash')}")
    if not result.heads:
        print(f"ledger: none in {root} (runs archived before the ledger are not covered)")
    return ExitCode.PASS if result.intact else ExitCode.FAIL


def _listing(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []
