"""Knobs of the emulated WS-100: each moves one physical or behavioural quantity of the board.

    >>> from emulators.ws100_board import BoardModel, Mode
    >>> board = BoardModel(seed=1, knobs={"power.sleep_current_a": 17e-6})
    >>> board.set_mode(Mode.SLEEP); board.current_a(at=board.booted_at + 0.5)
    1.7e-05

A knob never changes a plan's limit: it changes the board, so tests/test_limit_knobs_ws100.py can
push each measured quantity just past its limit and see exactly that measurement fail. A knob
left unset is the healthy board's own value (given in each description), so a station without
knobs behaves exactly as before. Defects (emulators/ws100_defects.py) take precedence over knobs.
"""

from __future__ import annotations

from collections.abc import Mapping

from emulators.interfaces import UnknownKnobError, check_knob_names

__all__ = ["KNOBS", "UnknownKnobError", "check_knobs", "every"]

KNOBS: dict[str, str] = {
    # power: what the supply and the current profiler see
    "power.sleep_current_a": "current drawn asleep between radio bursts, A (healthy 8e-6)",
    "power.idle_current_a": "current drawn in IDLE between radio bursts, A (healthy 1.2e-3)",
    "power.active_current_a": "current drawn in ACTIVE between radio bursts, A (healthy 12e-3)",
    "power.radio_burst_a": "current an advertising event adds for its 2 ms, A (healthy 8e-3)",
    "power.inrush_peak_a": "inrush peak above the 15 mA boot plateau at power-on, A "
                           "(healthy 0.085)",
    "power.boot_time_s": "time from power good to the firmware up (banner, plateau ends), s "
                         "(healthy 0.060)",
    "power.brownout_v": "supply voltage below which the board resets, V (healthy 2.7)",
    # sensors: what READ_SENSORS, telemetry and the environmental characteristics report
    "sensor.temperature_offset_c": "added to every temperature the board measures, degC",
    "sensor.humidity_offset_pct": "added to every humidity the board measures, %RH",
    "sensor.pressure_offset_pa": "added to every pressure the board measures, Pa",
    "sensor.battery_offset_v": "error of the battery voltage READ_SENSORS reports, V",
    "sensor.temperature_ripple_c": "interference on the temperature, alternately added to and "
                                   "taken from successive readings, degC",
    "sensor.humidity_ripple_pct": "the same on the humidity, %RH",
    "sensor.pressure_ripple_pa": "the same on the pressure, Pa",
    "sensor.reads_per_conversion": "the sensors convert once every N readings (the others repeat "
                                   "the last conversion), count (healthy 1)",
    "sensor.battery_level_offset_pct": "error of the state of charge the firmware reports "
                                       "(Battery Level, advertised battery), percentage points",
    "sensor.noise_scale": "scales the sensors' noise and drift, battery voltage included "
                          "(healthy 1; 0 makes readings exact, so a knob lands a reading a "
                          "known distance past a limit)",
    # serial: the firmware's UART
    "serial.response_delay_s": "how late a response is sent, s",
    "serial.response_delay_every": "only one response in N is late by serial.response_delay_s, "
                                   "count (healthy 1: every one)",
    "telemetry.rate_factor": "telemetry streams at this fraction of the requested rate "
                             "(healthy 1)",
    "telemetry.loss_every": "the board never sends telemetry frames whose counter is N-1 modulo "
                            "N, count (healthy 0: none lost)",
    # radio
    "radio.active_adv_interval_s": "advertising interval in ACTIVE, s (healthy 0.1); radio "
                                   "bursts on the supply follow it",
    "radio.advertising_delay_s": "first advertisement this long after boot, s",
    "radio.reset_lag_s": "the radio falls silent this long after the MCU resets or loses "
                         "power, s",
    "radio.ess_temperature_offset_c": "the Temperature characteristic reads this much above "
                                      "READ_SENSORS, degC",
    "radio.ess_humidity_offset_pct": "the Humidity characteristic reads this much above "
                                     "READ_SENSORS, %RH",
    "radio.ess_pressure_offset_pa": "the Pressure characteristic reads this much above "
                                    "READ_SENSORS, Pa",
    "radio.notify_period_factor": "notification period as a multiple of the configured one "
                                  "(healthy 1)",
    "radio.notify_jitter_s": "every other notification is sent this much late, s",
    "radio.notify_loss_every": "counted notifications whose sequence number is N-1 modulo N are "
                               "never sent, count (healthy 0: none)",
    "radio.notify_reorder_every": "counted notifications N-2 and N-1 modulo N go out in swapped "
                                  "order, count (healthy 0: none)",
    "radio.notify_duplicate_every": "counted notifications whose sequence number is N-1 modulo N "
                                    "go out twice, count (healthy 0: none)",
    "dfu.flash_s_per_byte": "MCUboot's flash write time per uploaded byte, s (healthy 10e-6: "
                            "about 100 kB/s; the upload's rate follows it)",
    "dfu.swap_s": "MCUboot's slot swap at a boot after a test mark (or its revert), s (healthy "
                  "0.15); the board is deaf meanwhile, so reset to alive follows it",
}


def check_knobs(knobs: Mapping[str, float]) -> dict[str, float]:
    """The knob settings as floats, once every name is known."""
    check_knob_names(knobs, KNOBS, "WS-100")
    return {name: float(value) for name, value in knobs.items()}


def every(knobs: Mapping[str, float], name: str, count: int) -> bool:
    """True when the count-type knob `name` (0 = off) picks the event numbered `count`."""
    n = int(knobs.get(name, 0))
    return n > 0 and count % n == n - 1
