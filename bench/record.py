"""The run record: JSON Lines written as the run goes, one line per event, fsynced per step.

    >>> import tempfile, pathlib
    >>> record = RunRecord(pathlib.Path(tempfile.mkdtemp()) / "record.jsonl")
    >>> record.start({"id": "emulated-01"}, {"citebench": "0.1.0"})
    >>> record.step("test_ping", "Ping.", Outcome.PASS, [], [], 0.0, 0.1)
    >>> record.end(Outcome.PASS)
    >>> load_record(record.path).verdict.name
    'PASS'

A run killed at any instant leaves a valid record up to its last finished step: every line is
complete JSON on its own, written with one write and fsynced. The HTML report, JUnit file and
archive are views rebuilt from this record; none of them holds data the record does not.
Attachments (traffic logs, captures) are stored beside the record, named by their SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.measure import Measurement, Outcome

# The version of what a record holds. 1: records before it was written (no `record_format`);
# 2: the start names the kit, and each measurement has its spec `id`, strict sides, resolution
# and `marginal` flag.
RECORD_FORMAT = 2


class RunRecord:
    """Appends events to `path`; attachments go to `path.parent / "attachments"`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.attachment_dir = path.parent / "attachments"
        self._lock = threading.Lock()
        self._file = None
        self.calibration_due: dict[str, dt.date] = {}  # role -> due date, from the station profile

    def _write(self, event: dict) -> None:
        line = json.dumps(event, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def start(self, station: dict, software: dict, operator: str = "",
              planned: list[str] | None = None, kit: dict | None = None) -> None:
        """The run's start: the record's format version, the board kit that made it (`name`,
        `version`, `commit`: bench.kits.kit_identity); `planned` names the steps it means to run,
        so a run that ends early shows what it did not reach."""
        self._write({"kind": "start", "record_format": RECORD_FORMAT, "time": time.time(),
                     "station": station, "software": software, "operator": operator,
                     "kit": kit, **({"planned": planned} if planned else {})})

    def dut(self, identity: dict) -> None:
        self._write({"kind": "dut", "time": time.time(), **identity})

    def instrument(self, role: str, identity: dict) -> None:
        """Record an instrument's `*IDN?` identity, flagged if it is past its calibration date."""
        now = time.time()
        due = self.calibration_due.get(role)
        calibration = {} if due is None else {
            "calibration_due": due.isoformat(),
            "calibration_expired": due < dt.datetime.fromtimestamp(now, dt.UTC).date(),
        }
        self._write({"kind": "instrument", "time": now, "role": role, **identity, **calibration})

    def guard(self, role: str, guards: dict) -> None:
        """What guards the outputs of the instrument in `role` against each way the run can end
        (bench/endings.py, docs/instruments.md); a later event for the same role updates the
        earlier one (a watchdog found dead), so the record never claims a guard it lost."""
        self._write({"kind": "guard", "time": time.time(), "role": role, **guards})

    def attach(self, name: str, media_type: str, content: str | bytes) -> dict:
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        self.attachment_dir.mkdir(parents=True, exist_ok=True)
        target = self.attachment_dir / digest
        if not target.exists():
            target.write_bytes(data)
        return {"name": name, "media_type": media_type, "sha256": digest, "size": len(data)}

    def step(self, name: str, doc: str, outcome: Outcome, measurements: list[Measurement],
             attachments: list[tuple[str, str, str | bytes]], start: float, end: float,
             message: str = "") -> None:
        self._write({
            "kind": "step", "name": name, "doc": doc, "outcome": outcome.name.lower(),
            "start": start, "end": end, "message": message,
            "measurements": [m.to_dict() for m in measurements],
            "attachments": [self.attach(*a) for a in attachments],
        })

    def end(self, verdict: Outcome, problems: list[str] | None = None, *,
            ending: dict | None = None) -> None:
        """The run's verdict; `problems` are run-level reasons for it (an expired instrument);
        `ending` says what ended the run when it did not simply run out of steps (see
        bench.endings): `{"cause": "signal"|"resource_lost"|"stopped"|"exception", "detail",
        "step", "planned", "not_run": [node ids], "not_run_reason"}`."""
        self._write({"kind": "end", "time": time.time(), "verdict": verdict.name.lower(),
                     "problems": problems or [], **({"ending": ending} if ending else {})})

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def run_verdict(outcomes: list[Outcome]) -> Outcome:
    """The worst judged outcome: a skip neither passes nor fails a run; nothing judged is ERROR."""
    return max((o for o in outcomes if o is not Outcome.SKIP), default=Outcome.ERROR)


INCOMPLETE = "INCOMPLETE"  # the label of a run whose record has no end: its process was killed
STEP_KEYS = ("name", "outcome", "measurements", "attachments")


def dut_id(dut: dict) -> str:
    """The DUT's unique id in a record's `dut` event: `unique_id`, or `serial` in older records."""
    return str(dut.get("unique_id", dut.get("serial", "")))


def measurement_key(m: dict) -> str:
    """What identifies a recorded measurement across runs (statistics, defect matrix): its spec
    `id`, or its name when it has none (undeclared, or a record before format 2)."""
    return str(m.get("id") or m.get("name", ""))


@dataclass(frozen=True)
class Damage:
    """A line of a record that could not be read; the rest of the record still is."""

    line: int
    reason: str
    cut_short: bool = False  # the last line of a run killed mid-write, not bad input

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class RecordView:
    """A record read back: what every report is rebuilt from."""

    path: Path
    start: dict = field(default_factory=dict)
    dut: dict = field(default_factory=dict)
    instruments: list[dict] = field(default_factory=list)
    guards: dict[str, dict] = field(default_factory=dict)  # role -> its guards, updates merged
    steps: list[dict] = field(default_factory=list)
    end: dict | None = None
    truncated: bool = False  # the last line was cut short (a run killed mid-write)
    damaged: list[Damage] = field(default_factory=list)  # lines skipped, the cut one included

    @property
    def empty(self) -> bool:
        """Nothing of the run could be read: no event at all (a disk full before the first)."""
        return not (self.start or self.dut or self.instruments or self.steps or self.end)

    @property
    def unreadable(self) -> list[Damage]:
        """The damaged lines that are bad input: all but the line a kill cut short."""
        return [damage for damage in self.damaged if not damage.cut_short]

    @property
    def step_outcomes(self) -> list[Outcome]:
        return [Outcome[step["outcome"].upper()] for step in self.steps]

    @property
    def verdict(self) -> Outcome:
        if self.end is not None:
            return Outcome[self.end["verdict"].upper()]
        worst = run_verdict(self.step_outcomes)
        return max(worst, Outcome.ABORTED) if self.start else worst

    @property
    def label(self) -> str:
        """The verdict's name, or INCOMPLETE when the record never got its end (`kill -9`)."""
        return self.verdict.name if self.end is not None else INCOMPLETE

    @property
    def unique_id(self) -> str:
        return dut_id(self.dut)

    @property
    def record_format(self) -> int:
        """The record's format version; a record older than the field is version 1."""
        return int(self.start.get("record_format", 1))

    @property
    def ending(self) -> dict:
        return (self.end or {}).get("ending", {})

    @property
    def expired_instruments(self) -> list[dict]:
        return [i for i in self.instruments if i.get("calibration_expired")]

    def attachment(self, ref: dict) -> str:
        return (self.path.parent / "attachments" / ref["sha256"]).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _Range:
    """A shape: a number from `low` to `high` (NaN and the infinities are not)."""

    low: float
    high: float
    text: str


_NUMBER = (int, float)
_NULL = type(None)
_TIME = _Range(0, 253402300799, "a time from 1970 to 9999 in seconds")  # what a page can show
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Limits, margin, comparison and outcome come from Measurement.judge; what a plan hands over
# (name, value, nominal, units, an attachment's name and type) is shown as text, whatever it is,
# so an odd value never costs the step its other measurements.
_MEASUREMENT = {"low": (*_NUMBER, _NULL), "high": (*_NUMBER, _NULL),
                "margin": (*_NUMBER, _NULL), "comparison": str, "outcome": str}
_ATTACHMENT = {"sha256": _SHA256, "size": int}  # a file name beside the record, never a path
# What the readers of a record (pages, index, statistics, archive) rely on, checked once here so
# that none of them meets a list where it reads an object. A shape is a type (or a tuple of
# them), `[shape]` for a list of it, a dict for an object whose fields, when present, have
# those shapes, a pattern a string must match or a _Range. Fields not listed are shown as text.
SHAPES: dict[str, dict] = {
    "start": {"time": _TIME, "station": dict, "software": {"packages": dict}, "operator": str,
              "planned": [str]},
    "instrument": {"role": str, "calibration_due": str, "calibration_expired": bool},
    "step": {"name": str, "doc": str, "outcome": str, "start": _TIME, "end": _TIME,
             "message": str, "measurements": [_MEASUREMENT], "attachments": [_ATTACHMENT]},
    "end": {"time": _TIME, "verdict": str, "problems": [str],
            "ending": {"cause": str, "detail": str, "step": str, "planned": int,
                       "not_run": [str], "not_run_reason": str}},
}
_JSON_NAMES = {dict: "an object", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true or false", _NULL: "null"}


def _json_name(value: object) -> str:
    return next(name for kind, name in reversed(_JSON_NAMES.items()) if isinstance(value, kind))


def _shape_problem(value: object, shape: object, where: str) -> str:
    """What is wrong with `value` against `shape` (see SHAPES), naming the field; "" if nothing."""
    if isinstance(shape, _Range):
        number = isinstance(value, _NUMBER) and not isinstance(value, bool)
        return "" if number and shape.low <= value <= shape.high else (
            f"{where} is {value!r:.40}, not {shape.text}")
    if isinstance(shape, re.Pattern):
        ok = isinstance(value, str) and shape.fullmatch(value)
        return "" if ok else f"{where} is not {shape.pattern}: {value!r:.40}"
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{where} is {_json_name(value)}, not a list"
        return next((problem for n, item in enumerate(value)
                     if (problem := _shape_problem(item, shape[0], f"{where}[{n}]"))), "")
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{where} is {_json_name(value)}, not an object"
        return next((problem for key, inner in shape.items() if key in value
                     if (problem := _shape_problem(value[key], inner, f"{where}.{key}"))), "")
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return ""
    expected = " or ".join(name for kind, name in _JSON_NAMES.items()
                           if kind in kinds and not (kind is int and float in kinds))
    return f"{where} is {_json_name(value)}, not {expected}"


def _event(raw: bytes) -> dict:
    """One record line as an event, or ValueError saying what is wrong with it."""
    try:
        event = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 at byte {error.start}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(event, dict):
        raise ValueError(f"not a JSON object but {_json_name(event)}")
    kind = event.get("kind")
    if kind == "step":
        missing = [key for key in STEP_KEYS if key not in event]
        if missing:
            raise ValueError(f"step without {', '.join(missing)}")
        if str(event["outcome"]).upper() not in Outcome.__members__:
            raise ValueError(f"step outcome {event['outcome']!r} unknown")
    if kind == "end" and str(event.get("verdict", "")).upper() not in Outcome.__members__:
        raise ValueError(f"end verdict {event.get('verdict')!r} unknown")
    problem = _shape_problem(event, SHAPES.get(str(kind), {}), str(kind))
    if problem:
        raise ValueError(problem)
    return event


def load_record(path: Path) -> RecordView:
    """Read a record, a partial or damaged one included: a line that cannot be read is listed in
    `damaged` with its number and skipped, and the others are read; a last line without its
    newline that does not parse is a write cut short by a kill (`truncated`)."""
    view = RecordView(path)
    with path.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            try:
                event = _event(line)
            except ValueError as error:
                if not line.endswith(b"\n"):
                    view.truncated = True
                    view.damaged.append(Damage(number, f"cut short ({len(line)} bytes)", True))
                else:
                    view.damaged.append(Damage(number, str(error)))
                continue
            kind = event.get("kind")
            if kind == "start":
                view.start = event
            elif kind == "dut":
                view.dut = event
            elif kind == "instrument":
                view.instruments.append(event)
            elif kind == "guard":
                role = event.get("role", "")
                view.guards[role] = view.guards.get(role, {}) | event
            elif kind == "step":
                view.steps.append(event)
            elif kind == "end":
                view.end = event
    return view
