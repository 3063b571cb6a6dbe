"""Motion events: every motion interrupt reaches the host as one MOTION frame, in order."""

from drivers.tracker import TrackerDriver

PULSES = 5


def test_every_motion_is_reported(dut: TrackerDriver, spec, measure) -> None:
    """Five self-test pulses (five shakes): five MOTION frames, counted on without a gap."""
    before = dut.status().motion_events
    events = dut.accel_self_test(PULSES)
    measure(spec.limit("motion_events"), len(events), nominal=PULSES)
    counts = [event.fields.count for event in events]
    measure(spec.limit("motion_counts_consecutive"),
            int(counts == list(range(before + 1, before + 1 + PULSES))))
    measure(spec.limit("motion_events_counted"), dut.status().motion_events - before,
            nominal=PULSES)


def test_motion_peak_reported(dut: TrackerDriver, spec, measure) -> None:
    """A self-test deflection is reported with its peak acceleration."""
    events = dut.accel_self_test(1)
    measure(spec.limit("motion_events"), len(events), nominal=1)
    measure(spec.limit("motion_peak"), events[0].fields.peak_mg if events else None)
