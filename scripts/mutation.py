"""Mutation testing of our own: does the suite notice when the code is subtly wrong?

    scripts/mutation                                  # every module below, its fast tests each
    scripts/mutation --module bench/measure.py        # one module
    scripts/mutation --list --module bench/measure.py # the mutants, without running anything

Each mutant is one small edit of one module's syntax tree, the kind a tired hand makes: a
comparison flipped (`<` / `<=`, `==` / `!=`, `in` / `not in`), an integer off by one either way,
a `not` dropped, `and` / `or` swapped, a return value replaced (by None, or a boolean by its
opposite), a `raise` or a statement deleted. The mutant is written into a temporary copy of the
tree (the real files are never touched), the module's fast tests run against it with
`pytest -x -m "not plan_run"` (whole bench runs in a subprocess are left to the suite), and the
mutant is killed when they fail (or hang past the timeout, or exhaust
MEMORY_LIMIT), survived when they pass. Every survivor is printed with its line, then the
score per module and overall.

Why our own rather than mutmut: mutmut 3 rewrites every function of a module into a trampoline
inside its own `mutants/` copy; one `ast` pass gives exactly the operators the issue names, on a
plain copy of the tree, with no new dependency. The copy is put first on PYTHONPATH and checked
to be what the tests import (the editable install must not shadow it).

Some mutants cannot be killed by any test because they change nothing observable (a read-buffer
size, the length of a diagnostic tail). They are listed in EQUIVALENT with the reason, matched by
the text of their source line, and reported apart, never counted as killed.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT = 1 << 30  # bytes of heap per test run of a mutant

# module -> its fast tests, cheapest and most specific first (pytest -x stops at the first failure)
TARGETS: dict[str, list[str]] = {
    "protocols/ws100_frames.py": ["tests/test_protocol_vectors.py", "tests/test_protocol.py"],
    "protocols/ws100_messages.py": ["tests/test_protocol_vectors.py", "tests/test_protocol.py"],
    "drivers/ws100_codec.py": ["tests/test_link_contract.py", "tests/test_protocol_vectors.py"],
    "drivers/serial_link.py": ["tests/test_link_contract.py", "tests/test_serial_link.py",
                               "tests/test_replug.py"],
    "bench/measure.py": ["tests/test_measure_bounds.py", "tests/test_measure.py"],
    "emulators/scpi.py": ["tests/test_scpi_parser.py"],
    "protocols/scpi.py": ["tests/test_scpi_parser.py"],
    "drivers/scpi.py": ["tests/test_instrument_replay.py", "tests/test_scpi_parser.py",
                        "tests/test_instrument_faults.py"],
    "bench/record.py": ["tests/test_record.py"],
    "bench/archive.py": ["tests/test_archive.py"],
}

FAST_PATH = "the one-frame fast path falls back to the checking path, which gives the same events"
# module -> {text of a source line, or "line -> mutated expression": why that mutant changes
# nothing observable}
EQUIVALENT: dict[str, dict[str, str]] = {
    "bench/measure.py": {
        "PASS = 0 -> -1": "outcomes are compared by order and stored by name, never by number",
        "ABORTED = 4 -> 5": "outcomes are compared by order and stored by name, never by number",
    },
    "protocols/ws100_frames.py": {
        "got = _unpack_crc(raw, end)[0] -> -1": "a one-field tuple: [0] and [-1] are the same",
        "if not self._buf and data[:2] == SYNC and len(data) >= HEADER_SIZE: -> "
        "data[:2] != SYNC": FAST_PATH,
        "if not self._buf and data[:2] == SYNC and len(data) >= HEADER_SIZE: -> "
        "len(data) > HEADER_SIZE": FAST_PATH,
        "if size == len(data) and size - HEADER_SIZE - CRC_SIZE <= MAX_PAYLOAD: -> "
        "size == len(data) or size - HEADER_SIZE - CRC_SIZE <= MAX_PAYLOAD": FAST_PATH,
        "if not self._buf and data[:2] == SYNC and len(data) >= HEADER_SIZE: -> 3": FAST_PATH,
        "if not self._buf and data[:2] == SYNC and len(data) >= HEADER_SIZE: -> 1": FAST_PATH,
        'size = HEADER_SIZE + CRC_SIZE + int.from_bytes(data[5:7], "little")': FAST_PATH,
        "bytes(self._buf[:HEADER_SIZE + 8]))": "how many bytes a timed-out frame error quotes",
        "if size == len(data) and size - HEADER_SIZE - CRC_SIZE <= MAX_PAYLOAD: -> "
        "size != len(data)": FAST_PATH,
        "if size == len(data) and size - HEADER_SIZE - CRC_SIZE <= MAX_PAYLOAD: -> "
        "size - HEADER_SIZE - CRC_SIZE < MAX_PAYLOAD": FAST_PATH,
    },
    "bench/archive.py": {
        "fcntl.flock(lock, fcntl.LOCK_UN)":
            "the with block closes the lock file on the next line, which releases the lock",
        "dirs.sort()": "_files sorts what it found; the order of the walk changes nothing",
        "while chunk := data.read(1 << 20): -> 2": "read size: the digest is of the whole file",
        "while chunk := data.read(1 << 20): -> 21": "read size: the digest is of the whole file",
        "while chunk := data.read(1 << 20): -> 19": "read size: the digest is of the whole file",
    },
    "bench/record.py": {
        "os.fsync(self._file.fileno())": "durability across a power cut; a test process sees "
                                         "the flushed line either way",
    },
    "drivers/scpi.py": {
        'self.name = ""': "__set_name__ names every control declared in a class body",
        "code = int(found.group(1)) -> 0": "group 0 adds only leading blanks, which int() skips",
        "if isinstance(allowed, tuple) and len(allowed) == 2 and not isinstance(allowed[0], "
        "str): -> -1": "a range holds two numbers, a word list only words: either end tells",
    },
    "emulators/scpi.py": {
        "super().__init__(code, detail)": "Exception.__new__ already keeps the arguments",
        "super().__init_subclass__(**kwargs)":
            "object.__init_subclass__ does nothing, and no device class passes keywords",
        "self.pending = [op for op in self.pending if op.is_alive()]":
            "forgets finished operations; joining or testing a finished thread returns at once",
        "self._complete_opc()  # nothing pending: complete at once":
            "every read of the ESR or the status byte completes an armed *OPC first",
        "return {1: ESR_CME, 2: ESR_EXE, 3: ESR_DDE, 4: ESR_QYE}.get(-code // 100, 0) -> 99":
            "-code // 99 gives the same class for every code in ERRORS (-100 to -410)",
        "return {1: ESR_CME, 2: ESR_EXE, 3: ESR_DDE, 4: ESR_QYE}.get(-code // 100, 0) -> -1":
            "every code in ERRORS has a class, so the default is never used",
    },
    "protocols/ws100_messages.py": {
        "if size is not None or construct in _GREEDY: -> size is not None and construct in "
        "_GREEDY": "the rebuild check agrees for fixed and greedy payloads; skipping it is speed",
    },
    "drivers/serial_link.py": {
        "TAIL_BYTES = 64": "length of the hex tail quoted in an error message",
        "self.errors: deque[ProtocolError] = deque(maxlen=256)": "how many past errors are kept",
        "self.unsolicited: deque[tuple[float, object]] = deque(maxlen=100_000)":
            "capacity of the unsolicited-frame history",
        "data = os.read(fd, 4096)": "read size: a smaller read returns the rest on the next",
        "os.read(kick, 64)": "drains the wake-up pipe; any size empties it",
        "self._reader.join(timeout=2)": "the reader exits within one select timeout",
        "self._kick_r = self._kick_w = -1  # a pipe that wakes the reader out of select(), "
        "once open": "overwritten by open() before any use",
        "self._seq = itertools.count(1) -> 2": "the first sequence number is arbitrary",
        "self._seq = itertools.count(1) -> 0": "the first sequence number is arbitrary",
        "if idle < LEND_IDLE_S:  # a caller is exchanging frames: stay out of its way -> "
        "idle <= LEND_IDLE_S": "differs only when two clock readings are exactly equal",
        "if remaining <= 0: -> remaining < 0": "differs only at exactly zero time left",
        "self._stopped.wait(max(LEND_IDLE_S - idle, LEND_IDLE_S / 5))":
            "the reader spins instead of sleeping: CPU only",
        "self._stopped.set()": "wakes the reader from a pause of at most 5 ms it ends anyway",
        "self._last_lent = time.monotonic()": "who reads: the io lock still serializes reads",
        "os.write(self._kick_w, b\"k\")": "the reader leaves select() at its timeout instead",
        "self._cond.wait(remaining)": "expect() polls instead of sleeping: CPU only",
        "written += os.write(fd, data[written:])":
            "a blocking tty write returns whole; the loop guards short writes",
        "elif self._decoder.pending and timeout >= INTERBYTE_TIMEOUT_S: -> "
        "self._decoder.pending or timeout >= INTERBYTE_TIMEOUT_S":
            "drop_partial() of an empty decoder returns nothing",
        "data = ser.read(1) -> 2": "waits one inter-byte timeout longer for a 1-byte chunk",
    },
}


@dataclass(frozen=True)
class Mutant:
    module: str
    index: int  # position of the mutated node in ast.walk order
    operator: str
    line: int
    before: str
    after: str

    def label(self) -> str:
        return f"{self.module}:{self.line} {self.operator}: {self.before.strip()}  ->  " \
               f"{self.after.strip()}"


_FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
         ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot,
         ast.IsNot: ast.Is}
Edit = Callable[[ast.AST], ast.AST | None]  # returns the replacement node (None: delete)


def _edits(node: ast.AST, docstrings: set[int]) -> Iterator[tuple[str, Edit]]:
    """The mutations that apply to one node, each as (operator name, edit function)."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _FLIP:
                def flip(n: ast.Compare, i: int = i) -> ast.AST:
                    n.ops[i] = _FLIP[type(n.ops[i])]()
                    return n
                yield "flip comparison", flip
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        for delta in (1, -1):
            def shift(n: ast.Constant, delta: int = delta) -> ast.AST:
                return ast.Constant(n.value + delta)
            yield f"constant {delta:+d}", shift
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop not", lambda n: n.operand
    elif isinstance(node, ast.BoolOp):
        def swap(n: ast.BoolOp) -> ast.AST:
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()
            return n
        yield "swap and/or", swap
    elif isinstance(node, ast.Return) and node.value is not None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, bool):
            yield "negate return", lambda n: ast.Return(ast.Constant(not n.value.value))
        elif not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return None", lambda n: ast.Return(ast.Constant(None))
    elif isinstance(node, ast.Raise):
        yield "delete raise", lambda n: ast.Pass()
    elif _deletable(node, docstrings):
        yield "delete statement", lambda n: ast.Pass()


def _deletable(node: ast.AST, docstrings: set[int]) -> bool:
    """Statements whose loss a test should notice: calls, updates, stores into objects."""
    if isinstance(node, ast.Expr | ast.AugAssign | ast.Delete):
        return id(node) not in docstrings
    return isinstance(node, ast.Assign) and all(
        isinstance(t, ast.Attribute | ast.Subscript) for t in node.targets)


def _skipped_subtrees(tree: ast.AST) -> tuple[set[int], set[int]]:
    """Nodes never mutated (asserts, annotations, f-string parts, __all__) and docstrings."""
    skip: set[int] = set()
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        roots: list[ast.AST] = []
        if isinstance(node, ast.Assert | ast.JoinedStr):
            roots.append(node)
        elif isinstance(node, ast.AnnAssign | ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
            roots.append(node.returns)
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            roots.append(node)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(
                    getattr(body[0], "value", None), ast.Constant) and isinstance(
                    body[0].value.value, str):
                docstrings.add(id(body[0]))
        for root in roots:
            skip.update(id(n) for n in ast.walk(root))
    return skip, docstrings


def _sites(tree: ast.AST) -> Iterator[tuple[int, ast.AST, str, Edit]]:
    skip, docstrings = _skipped_subtrees(tree)
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        for operator, edit in _edits(node, docstrings):
            yield index, node, operator, edit


def mutants(module: str, source: str) -> list[tuple[Mutant, str]]:
    """Every mutant of `source` with the mutated module's full text, in a stable order."""
    lines = source.splitlines()
    equivalent = EQUIVALENT.get(module, {})
    tree = ast.parse(source)
    found = []
    for number, (index, node, operator, _edit) in enumerate(_sites(tree)):
        mutated_tree = copy.deepcopy(tree)
        target_index, target, _, edit = list(_sites(mutated_tree))[number]
        assert target_index == index
        replacement = edit(target)
        _replace(mutated_tree, target, replacement)
        line = getattr(node, "lineno", 0)
        before = lines[line - 1] if line else ""
        after = ast.unparse(replacement) if replacement is not None else "(deleted)"
        mutant = Mutant(module, index, operator, line, before,
                        after if len(after) < 80 else after[:77] + "...")
        reason = equivalent.get(f"{before.strip()} -> {mutant.after}",
                                equivalent.get(before.strip()))
        if reason:
            mutant = Mutant(module, index, f"{operator} [equivalent: {reason}]", line, before,
                            mutant.after)
        found.append((mutant, ast.unparse(ast.fix_missing_locations(mutated_tree))))
    return found


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    """Put `new` where `old` was (in place when the edit mutated `old` itself)."""
    if new is old:
        return
    for parent in ast.walk(tree):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(item is old for item in value):
                value[next(i for i, item in enumerate(value) if item is old)] = new
                return
    raise ValueError(f"node {ast.dump(old)[:60]} not found in the tree")


def copy_tree(root: Path) -> Path:
    """A throwaway copy of the tree's tracked and new files (no venv, reports, caches)."""
    listing = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
    target = Path(tempfile.mkdtemp(prefix="citebench-mutation-"))
    for name in filter(None, listing.decode().split("\0")):
        source = root / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def run_tests(tree: Path, tests: list[str], timeout_s: float) -> str:
    """'passed', 'failed' or 'timeout' for the tests run against the tree at `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                               "no:cacheprovider", f"--timeout={timeout_s / 2:g}",
                               "-m", "not plan_run", *tests],
                              cwd=tree, env=env, capture_output=True, timeout=timeout_s,
                              preexec_fn=_limit_memory)
    except subprocess.TimeoutExpired:
        return "timeout"
    if done.returncode == 5:
        raise SystemExit(f"mutation: no tests collected from {tests} in {tree}")
    return "passed" if done.returncode == 0 else "failed"


def _limit_memory() -> None:
    """A mutant that loops while appending (a decoder that never consumes) must not take the
    machine's memory with it: past MEMORY_LIMIT its test run dies with MemoryError (killed)."""
    resource.setrlimit(resource.RLIMIT_DATA, (MEMORY_LIMIT, MEMORY_LIMIT))


def check_copy_is_imported(tree: Path, module: str) -> None:
    """The tests must import the copy's module, not the editable install's original."""
    name = module.removesuffix(".py").replace("/", ".")
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    where = subprocess.run([sys.executable, "-c", f"import {name}; print({name}.__file__)"],
                           cwd=tree, env=env, capture_output=True, text=True).stdout.strip()
    if not where.startswith(str(tree)):
        raise SystemExit(f"mutation: {name} resolves to {where!r}, not to the copy in {tree}")


@dataclass
class Score:
    killed: int = 0
    survived: int = 0
    equivalent: int = 0

    @property
    def percent(self) -> float:
        judged = self.killed + self.survived
        return 100.0 * self.killed / judged if judged else 100.0


def mutate_module(tree: Path, module: str, tests: list[str], timeout_s: float,
                  out=sys.stdout) -> Score:
    path = tree / module
    original = path.read_text(encoding="utf-8")
    check_copy_is_imported(tree, module)
    outcome = run_tests(tree, tests, timeout_s)
    if outcome != "passed":  # a busy machine can make the unmutated run time out: say which
        verb = "time out (raise --timeout)" if outcome == "timeout" else "fail"
        raise SystemExit(f"mutation: {' '.join(tests)} {verb} on the unmutated {module}")
    score = Score()
    try:
        for mutant, text in mutants(module, original):
            if "[equivalent:" in mutant.operator:
                score.equivalent += 1
                continue
            path.write_text(text, encoding="utf-8")
            outcome = run_tests(tree, tests, timeout_s)
            if outcome == "passed":
                score.survived += 1
                print(f"SURVIVED {mutant.label()}", file=out, flush=True)
            else:
                score.killed += 1
    finally:
        path.write_text(original, encoding="utf-8")
    print(f"{module}: {score.killed} killed, {score.survived} survived "
          f"({score.percent:.1f} % killed), {score.equivalent} equivalent not run", file=out,
          flush=True)
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", help="module path (repeatable); "
                        f"default: {', '.join(TARGETS)}")
    parser.add_argument("--tests", nargs="+", help="tests to run (default: the module's own)")
    parser.add_argument("--root", type=Path, default=ROOT, help="tree to copy (a git work tree)")
    parser.add_argument("--timeout", type=float, default=40.0,
                        help="seconds per mutant run (half of it per test)")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    args = parser.parse_args(argv)
    modules = args.module or list(TARGETS)
    for module in modules:
        if not args.tests and module not in TARGETS:
            parser.error(f"no tests known for {module}: give --tests")
    if args.list:
        for module in modules:
            source = (args.root / module).read_text(encoding="utf-8")
            for mutant, _ in mutants(module, source):
                print(mutant.label())
        return 0
    tree = copy_tree(args.root)
    started = time.monotonic()
    total = Score()
    try:
        for module in modules:
            score = mutate_module(tree, module, args.tests or TARGETS[module], args.timeout)
            total.killed += score.killed
            total.survived += score.survived
            total.equivalent += score.equivalent
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    print(f"mutation score: {total.killed}/{total.killed + total.survived} killed "
          f"({total.percent:.1f} %), {total.equivalent} equivalent not run, "
          f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
