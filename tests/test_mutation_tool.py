"""scripts/mutation on a tree of three files: a mutant the tests catch is killed, one they cannot
catch is printed as a survivor, the score counts both, and the real files are never edited."""

import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scripts import load_script

mutation = load_script("mutation")

CLAMP = '''def clamp(x, high):
    """The smaller of x and high."""
    if x <= high:
        return x
    return high
'''
# clamp(3, 3) is 3 either way: `<=` -> `<` cannot be caught, every other mutant can
TESTS = '''from calc import clamp


def test_clamp():
    assert clamp(1, 3) == 1
    assert clamp(5, 3) == 3
'''


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "calc.py").write_text(CLAMP)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_calc.py").write_text(TESTS)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    return tmp_path


@pytest.fixture(autouse=True)
def _copies_removed(monkeypatch) -> Iterator[None]:
    """The tool's temporary copies are removed after each test, as its main() does."""
    made: list[Path] = []
    copy_tree = mutation.copy_tree
    monkeypatch.setattr(mutation, "copy_tree", lambda root: made.append(copy_tree(root))
                        or made[-1])
    yield
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


def test_mutants_of_a_small_function_are_the_documented_operators() -> None:
    found = [(m.operator, m.after) for m, _ in mutation.mutants("calc.py", CLAMP)]
    assert sorted(found) == sorted([
        ("return None", "return None"), ("return None", "return None"),
        ("flip comparison", "x < high"),
    ])


def test_a_known_mutant_is_killed_and_the_survivor_is_reported(tree: Path) -> None:
    copy = mutation.copy_tree(tree)
    out = io.StringIO()
    score = mutation.mutate_module(copy, "calc.py", ["tests/test_calc.py"], 60, out)
    assert (score.killed, score.survived) == (2, 1)
    assert round(score.percent, 1) == 66.7
    report = out.getvalue()
    assert "SURVIVED calc.py:3 flip comparison: if x <= high:  ->  x < high" in report
    assert "calc.py: 2 killed, 1 survived (66.7 % killed)" in report
    assert (copy / "calc.py").read_text() == CLAMP  # the copy is restored after each mutant
    assert (tree / "calc.py").read_text() == CLAMP  # and the real tree never touched


def test_an_equivalent_mutant_is_reported_apart_not_run(tree: Path, monkeypatch) -> None:
    monkeypatch.setitem(mutation.EQUIVALENT, "calc.py",
                        {"if x <= high: -> x < high": "clamp(high, high) is high either way"})
    copy = mutation.copy_tree(tree)
    out = io.StringIO()
    score = mutation.mutate_module(copy, "calc.py", ["tests/test_calc.py"], 60, out)
    assert (score.killed, score.survived, score.equivalent) == (2, 0, 1)
    assert "SURVIVED" not in out.getvalue()


def test_tests_failing_before_any_mutation_stop_the_run(tree: Path) -> None:
    (tree / "tests" / "test_calc.py").write_text(TESTS + "\n\ndef test_broken():\n    assert 0\n")
    copy = mutation.copy_tree(tree)
    with pytest.raises(SystemExit, match=r"fail on the unmutated calc\.py"):
        mutation.mutate_module(copy, "calc.py", ["tests/test_calc.py"], 60, io.StringIO())


def test_an_unmutated_run_that_times_out_says_so(tree: Path) -> None:
    """Each test stays under its own limit (half the run's); together they pass the run's."""
    slow = "".join(f"\n\ndef test_slow_{n}():\n    threading.Event().wait(1)\n" for n in range(5))
    (tree / "tests" / "test_calc.py").write_text("import threading\n" + TESTS + slow)
    copy = mutation.copy_tree(tree)
    with pytest.raises(SystemExit, match=r"time out \(raise --timeout\) on the unmutated calc"):
        mutation.mutate_module(copy, "calc.py", ["tests/test_calc.py"], 4, io.StringIO())
