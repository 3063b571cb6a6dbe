"""Reporting interval: the board confirms a new interval and its REPORT frames follow it."""

import itertools
import statistics

from bench.timing import undisturbed
from drivers.errors import NackError
from drivers.tracker import TrackerDriver
from protocols.tracker_messages import DEFAULT_INTERVAL_MS, MsgType, Status

INTERVAL_MS = 200
WINDOW_S = 1.5


def test_reports_follow_the_interval(dut: TrackerDriver, spec, measure) -> None:
    """At 200 ms, 1.5 s of reports: about seven, each 200 ms after the one before."""
    measure(spec.limit("confirmed_interval"), dut.set_interval(INTERVAL_MS), nominal=INTERVAL_MS)
    try:
        with undisturbed():  # arrival times are the host's: no garbage-collector pause
            reports = dut.collect(MsgType.REPORT, WINDOW_S)
    finally:
        dut.set_interval(DEFAULT_INTERVAL_MS)
    expected = WINDOW_S * 1000 / INTERVAL_MS
    measure(spec.limit("reports_received"), len(reports), low=int(expected) - 1,
            high=int(expected) + 1)
    periods = [(b.received_at - a.received_at) * 1000 for a, b in itertools.pairwise(reports)]
    mean = statistics.fmean(periods) if periods else None
    measure(spec.limit("report_period"), mean)
    error = None if mean is None else abs(mean - INTERVAL_MS) / INTERVAL_MS * 100
    measure(spec.limit("interval_error"), error)
    counters = [r.fields.counter for r in reports]
    measure(spec.limit("report_counter_gaps"),
            sum(b - a - 1 for a, b in itertools.pairwise(counters) if b != a + 1))


def test_out_of_range_interval_is_refused(dut: TrackerDriver, spec, measure) -> None:
    """50 ms is below the 100 ms floor: the board refuses it with BAD_VALUE."""
    try:
        dut.set_interval(50)
        refused = "accepted"
    except NackError as error:
        refused = Status(error.code).name if error.code in Status._value2member_map_ \
            else str(error.code)
    measure(spec.limit("interval_refused"), refused, nominal=Status.BAD_VALUE.name)
