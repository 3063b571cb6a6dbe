"""Defects an emulated tracker can carry, switched on by name from a station profile or the CLI.

Each defect is a switch on the board model (emulators/tracker_board.py), so it shows on every face
a real fault would touch: a lost motion interrupt is lost over UART and over BLE alike. The kit
(fixtures/tracker.py) publishes this catalogue with the face each defect shows on first.
"""

from __future__ import annotations

DEFECTS: dict[str, str] = {
    "wrong-firmware": "IDENTIFY reports firmware 2.0.9 instead of the released 2.1.0",
    "motion-events-lost": "the motion interrupt latch is never cleared: only the first motion "
                          "event after boot is reported",
    "gnss-fix-stale": "READ_GNSS returns the last fix from before the reboot (45 s old and "
                      "ageing) instead of a fresh one",
    "interval-ignored": "SET_INTERVAL is confirmed but reports keep the previous interval",
    "shipping-current-high": "shipping mode leaves the accelerometer on: 350 uA instead of "
                             "under 2 uA",
    "nus-fragment-overrun": "the NUS transmit path cuts frames at the ATT MTU instead of MTU - 3, "
                            "so 3 bytes are lost at every fragment boundary",
    "accel-stuck": "the accelerometer's data register is never refreshed: every read returns "
                   "the first sample",
    "factory-reset-keeps-interval": "FACTORY_RESET reboots but leaves the reporting interval "
                                    "in flash",
    "dfu-no-confirm": "the firmware denies confirming a new image over SMP "
                      "(IMAGE_CONFIRMATION_DENIED), so it reverts at the next reset",
    "dfu-no-revert": "MCUboot never reverts: an image tested and never confirmed stays",
}

FACES: dict[str, str] = {
    "wrong-firmware": "identity", "motion-events-lost": "serial", "gnss-fix-stale": "serial",
    "interval-ignored": "serial", "shipping-current-high": "power",
    "nus-fragment-overrun": "radio", "accel-stuck": "serial",
    "factory-reset-keeps-interval": "serial", "dfu-no-confirm": "radio", "dfu-no-revert": "radio",
}
