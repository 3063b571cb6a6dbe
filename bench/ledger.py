"""Tamper evidence across runs: an append-only ledger (`reports/ledger.jsonl`) holding the
SHA-256 of every archived run's manifest, each entry chained to the hash of the one before.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> first = append(root, "CB-1/20270115T080000Z_PASS", "ab" * 32, "PASS")
    >>> second = append(root, "CB-2/20270115T081000Z_FAIL", "cd" * 32, "FAIL")
    >>> second["prev"] == first["hash"], chain(root)[1]
    (True, [])

A manifest alone cannot show that a whole run was deleted, that `_PASS` was renamed `_FAIL`, or
that a file was rewritten together with its manifest line: the ledger can, because the manifest's
hash, the run's folder and its verdict were written in it when the run was archived, and changing
an entry breaks every hash after it. Rewriting the whole ledger is still possible for someone
with write access: `bench archive verify` prints the chain head so a lab can keep it elsewhere
(a logbook, a ticket, another machine) and check it later with `--head`. Optional Ed25519
signatures (bench.signing) bind each manifest to a station key as well.

Benches of a lab sharing one archive folder each keep their own chain, `ledger-<BENCH_ID>.jsonl`
(the environment names the bench), so no file is appended to from two hosts; `chain` reads
every ledger of the folder, each checked on its own, and `heads` gives each one's head.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path

LEDGER = "ledger.jsonl"
GENESIS = "0" * 64
BENCH = "BENCH_ID"  # environment: the bench whose own chain this process appends to


def path(root: Path) -> Path:
    """The ledger this bench appends to: its own when BENCH_ID names it, else the archive's."""
    bench = os.environ.get(BENCH, "")
    if bench and not re.fullmatch(r"[A-Za-z0-9._-]+", bench):
        raise ValueError(f"{BENCH}={bench!r}: letters, digits, '.', '_' and '-' only "
                         "(it names the bench's ledger file)")
    return root / (f"ledger-{bench}.jsonl" if bench else LEDGER)


def ledgers(root: Path) -> list[Path]:
    """Every ledger of the archive: its own and each bench's."""
    return sorted(root.glob("ledger*.jsonl"))


def entry_hash(entry: dict) -> str:
    """SHA-256 of the entry without its own hash, as canonical JSON (sorted keys, no spaces)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _last_line(path: Path) -> bytes:
    """The ledger's last line, read from the end: appending costs the same at any length."""
    with path.open("rb") as ledger:
        size = ledger.seek(0, os.SEEK_END)
        chunk = 4096
        while True:
            start = max(0, size - chunk)
            ledger.seek(start)
            tail = ledger.read(size - start).rstrip(b"\n")
            if b"\n" in tail or start == 0:
                return tail.rpartition(b"\n")[2]
            chunk *= 2


def head(root: Path) -> dict | None:
    """This bench's ledger's last entry, None when it is empty or absent."""
    return _head(path(root))


def _head(ledger: Path) -> dict | None:
    if not ledger.exists() or ledger.stat().st_size == 0:
        return None
    return json.loads(_last_line(ledger))


def heads(root: Path) -> dict[str, dict]:
    """Ledger file name -> its last entry, for every non-empty ledger of the archive."""
    return {ledger.name: found for ledger in ledgers(root)
            if (found := _head(ledger)) is not None}


def append(root: Path, folder: str, manifest_sha256: str, verdict: str,
           extra: dict | None = None) -> dict:
    """Add a run to the ledger; the caller holds the archive lock (bench.archive.locked)."""
    previous = head(root)
    entry = {"seq": previous["seq"] + 1 if previous else 1, "time": round(time.time(), 3),
             "run": folder, "verdict": verdict, "manifest_sha256": manifest_sha256,
             **(extra or {}), "prev": previous["hash"] if previous else GENESIS}
    entry["hash"] = entry_hash(entry)
    with path(root).open("a", encoding="ascii") as ledger:
        ledger.write(json.dumps(entry, ensure_ascii=True) + "\n")
        ledger.flush()
        os.fsync(ledger.fileno())
    return entry


def chain(root: Path) -> tuple[list[dict], list[str]]:
    """Every entry of every ledger of the archive, and every break in their chains (an edited
    or removed entry), each ledger checked as a chain of its own."""
    entries: list[dict] = []
    problems: list[str] = []
    for ledger in ledgers(root):
        found, broken = _chain(ledger)
        entries += found
        problems += broken
    return entries, problems


def _chain(path: Path) -> tuple[list[dict], list[str]]:
    entries: list[dict] = []
    problems: list[str] = []
    previous = GENESIS
    with path.open("rb") as ledger:
        for number, line in enumerate(ledger, 1):
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError("not an object")
            except ValueError as error:
                problems.append(f"{path.name} line {number}: unreadable ({error})")
                continue
            if entry.get("prev") != previous:
                problems.append(f"{path.name} line {number}: does not follow the entry before it "
                                "(an entry was removed, inserted or edited)")
            if entry.get("hash") != entry_hash(entry):
                problems.append(f"{path.name} line {number}: its hash does not match its content "
                                "(the entry was edited)")
            if entry.get("seq") != len(entries) + 1:
                problems.append(f"{path.name} line {number}: sequence {entry.get('seq')}, "
                                f"expected {len(entries) + 1}")
            previous = str(entry.get("hash"))
            entries.append(entry)
    return entries, problems
