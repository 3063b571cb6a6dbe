"""Knobs of the emulated tracker: each moves one quantity its plans measure, never a limit.

    >>> board = TrackerBoard(knobs={"power.run_current_a": 36e-3})
    >>> round(board.current_a(), 4)
    0.036

Set from a station profile (`[emulator] knobs = {"gnss.satellites" = 3}`) or handed to the board
model directly. A knob pushes one quantity just past its limit so a test can show that exactly
that measurement fails (tests/test_limit_knobs_tracker.py): a limit no knob can trip is a limit
nothing guards. Unlike a defect, a knob is a value, and an unset knob leaves the board as it
is. The kit (fixtures/tracker.py) publishes this catalogue as `BoardKit.knobs`.
"""

from __future__ import annotations

from collections.abc import Mapping

from emulators.interfaces import check_knob_names

KNOBS: dict[str, str] = {
    "accel.offset_x_mg": "added to every x reading of the accelerometer (mg): an offset or a tilt",
    "accel.offset_y_mg": "added to every y reading of the accelerometer (mg)",
    "accel.offset_z_mg": "added to every z reading of the accelerometer (mg; 1 g is 1000 mg)",
    "accel.noise_x_mg": "standard deviation of the x axis' noise (mg; 6 by default)",
    "accel.noise_y_mg": "standard deviation of the y axis' noise (mg; 6 by default)",
    "accel.noise_z_mg": "standard deviation of the z axis' noise (mg; 6 by default)",
    "gnss.satellites": "satellites used in every fix (count; 7 to 10 by default)",
    "gnss.fix_age_s": "age of every fix the GNSS module hands over (s; under 1 s by default)",
    "gnss.position_offset_m": "every fix lies this far north of the site (m; 0 by default, "
                              "about 2 m of scatter either way)",
    "motion.peak_mg": "peak acceleration of one accelerometer self-test deflection (mg; 1800 by "
                      "default)",
    "power.run_current_a": "current drawn from VBUS while awake and tracking (A; 18e-3 by "
                           "default)",
    "power.shipping_current_a": "current drawn from VBUS in shipping mode (A; 0.9e-6 by "
                                "default)",
    "report.period_error_pct": "the report timer runs this much slower (+) or faster (-) than "
                               "the interval it was set to (%; 0 by default)",
    "report.first_delay_ms": "the first report after a boot or an interval change comes this "
                             "much later than one interval (ms; 0 by default)",
    "report.counter_step": "how far the REPORT counter advances from one report to the next "
                           "(count; 1 by default)",
    "nus.malformed_frames": "the first N replies over NUS each carry a malformed frame (a stray "
                            "byte between delimiters) behind them, in their last notification "
                            "(count; 0 by default)",
    "dfu.swap_s": "MCUboot's slot swap at a boot after a test mark (or its revert), s (0.15 by "
                  "default); the board is deaf and silent on air meanwhile",
}


def check_knobs(knobs: Mapping[str, float]) -> dict[str, float]:
    """`knobs` as a plain dict, once every name is known."""
    check_knob_names(knobs, KNOBS, "tracker")
    return dict(knobs)
