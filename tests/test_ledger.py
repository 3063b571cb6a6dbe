"""Tamper evidence across runs: the ledger catches what a manifest alone cannot, and verify says
so with a non-zero exit; an edited or truncated ledger is caught by its chain or the kept head."""

import json
import shutil
from pathlib import Path

import pytest

from bench import archive, audit, ledger, signing
from bench.cli import main
from bench.measure import Outcome
from tests.test_archive import staged_run


@pytest.fixture
def archived(tmp_path: Path) -> tuple[Path, list[Path]]:
    """An archive of three runs of two boards."""
    runs = [archive.store(staged_run(tmp_path, serial, verdict, at=1.8e9 + n * 60), tmp_path)
            for n, (serial, verdict) in enumerate([("CB-1", Outcome.PASS), ("CB-2", Outcome.FAIL),
                                                   ("CB-1", Outcome.PASS)])]
    return tmp_path, runs


def _rewrite_file_and_manifest(run: Path) -> None:
    (run / "junit.xml").write_text("<testsuites>forged</testsuites>")
    lines = (run / archive.MANIFEST).read_text().splitlines()
    digest = archive.file_digest(run / "junit.xml")
    (run / archive.MANIFEST).write_text("".join(
        f"{digest}  junit.xml\n" if line.endswith("  junit.xml") else f"{line}\n"
        for line in lines))


TAMPERINGS = {
    "manifest deleted": (lambda run: (run / archive.MANIFEST).unlink(), ["manifest"]),
    "run deleted": (lambda run: shutil.rmtree(run), ["missing"]),
    "verdict renamed": (lambda run: run.rename(run.with_name(run.name.replace("_PASS", "_FAIL"))),
                        ["missing", "unledgered"]),
    "file and manifest line rewritten": (_rewrite_file_and_manifest, ["manifest"]),
}


def test_an_untouched_archive_verifies_and_prints_its_head(archived, capsys) -> None:
    root, _ = archived
    assert main(["archive", "verify", str(root)]) == 0
    out = capsys.readouterr().out
    entries, problems = ledger.chain(root)
    assert problems == [] and len(entries) == 3
    assert "3 of 3 run(s) intact" in out and f"ledger head: entry 3 {entries[-1]['hash']}" in out


@pytest.mark.parametrize("tampering", sorted(TAMPERINGS))
def test_each_tampering_is_reported_with_a_non_zero_exit(archived, capsys, tampering) -> None:
    root, runs = archived
    tamper, kinds = TAMPERINGS[tampering]
    before = archive.verify(runs[0])
    tamper(runs[0])
    result = audit.audit(root)
    assert sorted(p.kind for problems in result.runs.values() for p in problems) == kinds
    assert result.bad_runs == len(kinds) and not result.intact
    assert main(["archive", "verify", str(root)]) == 1
    out = capsys.readouterr().out
    assert "ALTERED" in out and f"2 of {2 + len(kinds)} run(s) intact" in out
    if tampering == "file and manifest line rewritten":
        assert before == [] and archive.verify(runs[0]) == []  # the manifest alone is fooled


def test_a_run_added_by_hand_is_not_in_the_ledger(archived) -> None:
    root, runs = archived
    forged = runs[1].with_name("20270115T090000Z_PASS")
    shutil.copytree(runs[1], forged)
    (problem,) = audit.audit(root).runs[forged.relative_to(root).as_posix()]
    assert problem.kind == "unledgered"


def test_an_edited_or_removed_ledger_entry_breaks_the_chain(archived) -> None:
    root, _ = archived
    path = root / ledger.LEDGER
    lines = path.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["verdict"] = "FAIL"
    path.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    assert any("hash does not match" in p for p in audit.audit(root).chain)
    path.write_text("\n".join([lines[0], lines[2]]) + "\n")  # the middle entry removed
    chain = audit.audit(root).chain
    assert any("line 2: does not follow" in p for p in chain)


def test_a_cut_ledger_is_caught_by_the_head_kept_elsewhere(archived, capsys) -> None:
    root, _ = archived
    kept = ledger.head(root)["hash"]
    assert main(["archive", "verify", str(root), "--head", kept]) == 0
    path = root / ledger.LEDGER
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:2]))
    assert main(["archive", "verify", str(root), "--head", kept]) == 1
    assert "is not in the ledger" in capsys.readouterr().out


def test_appending_reads_only_the_ledger_tail(tmp_path: Path) -> None:
    for n in range(300):
        ledger.append(tmp_path, f"CB-{n}/x_PASS", f"{n:064x}", "PASS")
    entries, problems = ledger.chain(tmp_path)
    assert problems == [] and [e["seq"] for e in entries] == list(range(1, 301))


def test_signed_manifests_verify_and_a_forged_one_does_not(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    pytest.importorskip("cryptography")
    key = tmp_path / "keys" / "station.key"
    assert main(["archive", "keygen", str(key)]) == 0
    public = key.with_suffix(".pub").read_text().strip()
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv(signing.KEY_VARIABLE, str(key))
    root = tmp_path / "archive"
    run = archive.store(staged_run(root, "CB-1"), root)
    assert (run / signing.SIGNATURE).exists() and ledger.head(root)["public_key"] == public
    assert main(["archive", "verify", str(root), "--key", public]) == 0
    assert main(["archive", "verify", str(root), "--key", "00" * 32]) == 1
    (run / signing.SIGNATURE).write_text("AAAA\n")
    assert main(["archive", "verify", str(root)]) == 1
    assert "signature does not match" in capsys.readouterr().out


def test_runs_archived_before_the_ledger_are_adopted_if_intact(archived, capsys) -> None:
    root, runs = archived
    (root / ledger.LEDGER).unlink()  # as an archive written before the ledger existed
    (runs[2] / "junit.xml").write_text("changed since")
    assert main(["archive", "verify", str(root)]) == 1
    assert main(["archive", "adopt", str(root)]) == 1
    assert f"not adopted: {runs[2].relative_to(root).as_posix()} (altered: junit.xml" in (
        capsys.readouterr().out)
    entries, problems = ledger.chain(root)
    assert problems == [] and [e["adopted"] for e in entries] == [True, True]
    result = audit.audit(root)
    assert result.bad_runs == 1 and len(result.runs) == 3
