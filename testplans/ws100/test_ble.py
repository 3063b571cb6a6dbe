"""Radio: the board advertises who it is, its GATT services agree with its serial port, its
notifications keep their rate and lose none, a BLE write changes its behaviour, and it comes back
after a reset, which the central sees as a supervision timeout.

Steps that count advertising packets declare `radio.every_packet`, steps that read the link's
parameters or the disconnection reason `radio.link_report`: skipped with the reason on a backend
without them (docs/ble.md says which)."""

import itertools
import statistics
import time

import pytest

from bench.kits import ProductSpec
from bench.timing import undisturbed
from drivers.ble import BleLink, BleRadio, sequence_report
from drivers.ws100 import Ws100Driver
from protocols import gatt
from protocols.ws100_messages import Mode

# Limits are the spec's (fixtures/ws100-spec.toml); these are how long the steps wait and look.
# ESS characteristics checked against the same READ_SENSORS field (spec: <field>_ble_vs_serial)
AGREE = [(gatt.TEMPERATURE_UUID, gatt.TEMPERATURE, "temperature_c"),
         (gatt.HUMIDITY_UUID, gatt.HUMIDITY, "humidity_pct"),
         (gatt.PRESSURE_UUID, gatt.PRESSURE, "pressure_pa")]
WINDOW_S = 3.0
# A reset drops the link without a word: the central notices after its supervision timeout
# (BlueZ 420 ms, other centrals up to a few seconds); the driver must see it by then.
LINK_LOSS_WITHIN_S = 4.0


def _expected_battery_pct(volts: float) -> float:
    """The firmware's Li-ion curve: 3.0 V empty, 4.2 V full, linear between."""
    return max(0.0, min(1.0, (volts - 3.0) / 1.2)) * 100


@pytest.mark.requires("radio", "radio.every_packet")
def test_advertises_after_power_on(radio: BleRadio, dut: Ws100Driver, station, request,
                                   spec: ProductSpec, measure) -> None:
    """From power-on (or a reset over serial without a supply) to the first advertisement."""
    if "psu" in station.profile.roles:
        psu = request.getfixturevalue("psu")
        psu.output = False
        psu.output = True
        start = time.monotonic()
        dut.wait_banner()
    else:
        start = time.monotonic()
        dut.reset()
    within = spec.limit("first_advertisement")
    advert = radio.find(timeout=within.high * 2)  # late is measured (and fails), not a timeout
    measure(within, advert.at - start)


def test_advertising_matches_identity(radio: BleRadio, dut: Ws100Driver, spec: ProductSpec,
                                      measure) -> None:
    """Name, address and the manufacturer payload (firmware, battery, flags) match GET_INFO."""
    info = dut.get_info()
    advert = radio.find()
    measure(spec.limit("advertised_name"), advert.name, nominal=radio.name or advert.name)
    measure(spec.limit("advertised_address"), advert.address.upper(),
            nominal=info.ble_address.upper())
    payload = advert.payload
    measure(spec.limit("manufacturer_data_present"), payload is not None)
    if payload is None:
        return
    firmware = f"{payload.fw_major}.{payload.fw_minor}.{payload.fw_patch}"
    measure(spec.limit("advertised_firmware"), firmware, nominal=info.firmware)
    measure(spec.limit("advertised_battery"), payload.battery_pct)
    provisioned = bool(payload.flags & gatt.AdvFlags.PROVISIONED)
    measure(spec.limit("provisioned_flag"), provisioned, nominal=bool(info.serial))


def test_device_information_equals_serial_identity(ble_link: BleLink, dut: Ws100Driver,
                                                   spec: ProductSpec, measure) -> None:
    """Device Information (0x180A) says what GET_INFO says over the serial port."""
    info = dut.get_info()
    for uuid, name, expected in [(gatt.SERIAL_NUMBER, "serial_number", info.serial),
                                 (gatt.MODEL_NUMBER, "model_number", info.part_number),
                                 (gatt.HARDWARE_REVISION, "hardware_revision", info.hw_revision),
                                 (gatt.FIRMWARE_REVISION, "firmware_revision", info.firmware)]:
        measure(spec.limit(f"gatt_{name}"), ble_link.read(uuid).decode(gatt.TEXT),
                nominal=expected)
    measure(spec.limit("gatt_manufacturer"),
            ble_link.read(gatt.MANUFACTURER_NAME).decode(gatt.TEXT))


def test_battery_level_follows_battery_voltage(ble_link: BleLink, dut: Ws100Driver,
                                               spec: ProductSpec, measure) -> None:
    """Battery Level (0x2A19) matches the state of charge of the voltage READ_SENSORS reports."""
    level = gatt.BATTERY.parse(ble_link.read(gatt.BATTERY_LEVEL))
    expected = _expected_battery_pct(dut.read_sensors().battery_v)
    tolerance = spec["radio.battery_level_tolerance_pct"]
    measure(spec.limit("battery_level"), level, low=expected - tolerance,
            high=expected + tolerance, nominal=round(expected))


def test_environment_agrees_with_read_sensors(ble_link: BleLink, dut: Ws100Driver,
                                              spec: ProductSpec, measure) -> None:
    """Environmental Sensing values agree with READ_SENSORS within the sensors' noise."""
    for uuid, construct, field in AGREE:
        ble_value = construct.parse(ble_link.read(uuid))
        serial_value = getattr(dut.read_sensors(), field)
        measure(spec.limit(f"{field}_ble_vs_serial"), ble_value - serial_value)


def test_notification_interval(ble_link: BleLink, dut: Ws100Driver, spec: ProductSpec,
                               measure) -> None:
    """Temperature notifications arrive at the configured rate, with little jitter."""
    rate_hz, tolerance = spec["radio.notify_rate_hz"], spec["radio.notify_rate_tolerance"]
    dut.set_stream(False, rate_hz)  # the rate is a board setting; the serial stream stays off
    ble_link.subscribe(gatt.TEMPERATURE_UUID)
    with undisturbed():  # arrival times are the host's: no garbage-collector pause in them
        notes = ble_link.collect(gatt.TEMPERATURE_UUID, WINDOW_S)
    times = [n.at for n in notes]
    intervals = [b - a for a, b in itertools.pairwise(times)]
    measure(spec.limit("notifications"), len(notes),
            low=WINDOW_S * rate_hz * spec["radio.notify_min_fraction"])
    if len(intervals) < 2:
        return
    nominal = 1 / rate_hz
    measure(spec.limit("notification_interval_mean"), statistics.mean(intervals),
            low=nominal * (1 - tolerance), high=nominal * (1 + tolerance), nominal=nominal)
    measure(spec.limit("notification_jitter"), statistics.stdev(intervals))
    measure.plot("notification timeline", [t - times[0] for t in times[1:]], intervals,
                 title=f"temperature notification intervals (configured {nominal * 1000:.0f} ms)",
                 unit="s", marks=[(0.0, f"{len(notes)} notifications")])


def _set_mode_over_ble(link: BleLink, mode: Mode) -> None:
    mark = link.now()
    link.write(gatt.CONTROL_COMMAND, gatt.CONTROL_REQUEST.build(
        dict(op=gatt.ControlOp.SET_MODE, value=mode)))
    reply = gatt.CONTROL_REPLY.parse(link.expect(gatt.CONTROL_RESPONSE, timeout=1.0,
                                                 after=mark).data)
    assert (reply.op, reply.status, reply.mode) == (gatt.ControlOp.SET_MODE,
                                                    gatt.ControlStatus.OK, mode), reply


def test_mode_write_changes_behaviour(ble_link: BleLink, dut: Ws100Driver, station, request,
                                      spec: ProductSpec, measure) -> None:
    """SET_MODE ACTIVE over BLE: the board answers with the new mode and draws more current."""
    ble_link.subscribe(gatt.CONTROL_RESPONSE)
    try:
        _set_mode_over_ble(ble_link, Mode.ACTIVE)
        if "psu" in station.profile.roles:
            # the supply's own readback: every supply family has it, a profiler is not needed;
            # a reading within its resolution of a limit is marginal
            psu = request.getfixturevalue("psu")
            measure(spec.limit("current_in_active"), psu.current,
                    resolution=psu.instrument.readback_resolution_a)
    finally:
        dut.set_mode(Mode.IDLE)


@pytest.mark.requires("radio", "radio.every_packet")
def test_advertising_interval_follows_mode(ble_link: BleLink, radio: BleRadio,
                                           spec: ProductSpec, measure) -> None:
    """In ACTIVE the board advertises every 100 ms plus the controller's advDelay (0-10 ms)."""
    ble_link.subscribe(gatt.CONTROL_RESPONSE)
    _set_mode_over_ble(ble_link, Mode.ACTIVE)
    ble_link.disconnect()  # a connected board does not advertise
    with undisturbed():
        adverts = radio.adverts(1.5, lambda a: a.address.upper() == radio.address.upper())
    intervals = [b.at - a.at for a, b in itertools.pairwise(adverts)]
    measure(spec.limit("advertising_interval_active"),
            statistics.median(intervals or [float("nan")]))


def test_counted_notifications_lose_nothing(ble_link: BleLink, dut: Ws100Driver, spec,
                                            measure) -> None:
    """Telemetry notifications carry a sequence number: none lost, none out of order."""
    rate_hz = spec["radio.notify_rate_hz"]
    dut.set_stream(False, rate_hz)
    ble_link.subscribe(gatt.CONTROL_TELEMETRY)
    notes = ble_link.collect(gatt.CONTROL_TELEMETRY, WINDOW_S)
    report = sequence_report([note.value.seq for note in notes])
    measure(spec.limit("counted_notifications_received"), report.received,
            low=WINDOW_S * rate_hz * spec["radio.notify_min_fraction"])
    measure(spec.limit("counted_notifications_lost"), report.lost)
    measure(spec.limit("counted_notifications_reordered"), report.reordered)
    measure(spec.limit("counted_notifications_duplicated"), report.duplicated)


def test_reconnect_after_forced_disconnect(ble_link: BleLink, radio: BleRadio,
                                           dut: Ws100Driver, spec: ProductSpec,
                                           measure) -> None:
    """A board reset drops the link; the driver sees it as unexpected and reconnects."""
    dut.reset()
    measure(spec.limit("link_dropped_on_reset"), ble_link.wait_disconnected(LINK_LOSS_WITHIN_S))
    measure(spec.limit("drop_seen_as_unexpected"), ble_link.unexpected_disconnect)
    with ble_link.reconnect() as again:
        measure(spec.limit("reconnect_attempts"), again.attempts,
                high=radio.connect_retries + 1)
        measure(spec.limit("serial_after_reconnect"), again.read(gatt.SERIAL_NUMBER).decode(),
                nominal=dut.get_info().serial)


@pytest.mark.requires("radio", "radio.link_report")
def test_reset_seen_as_supervision_timeout(ble_link: BleLink, dut: Ws100Driver,
                                           spec: ProductSpec, measure) -> None:
    """A reset sends nothing on air: the link ends by supervision timeout (reason 0x08), seen
    within the negotiated timeout, and the board is reachable again on that path."""
    timeout_s = ble_link.supervision_timeout_s
    measure(spec.limit("supervision_timeout"), timeout_s)
    reset_at = time.monotonic()
    dut.reset()
    dropped = ble_link.wait_disconnected(LINK_LOSS_WITHIN_S)
    measure(spec.limit("link_loss_detected"), dropped)
    if not dropped:
        return
    # the margin: the reset command over serial, then host scheduling
    measure(spec.limit("link_loss_after_reset"), ble_link.disconnected_at - reset_at,
            high=timeout_s + spec["radio.supervision_margin_s"], nominal=timeout_s)
    measure(spec.limit("disconnection_reason"), f"0x{ble_link.disconnect_reason:02X}")
    with ble_link.reconnect() as again:
        measure(spec.limit("serial_after_supervision_timeout"),
                again.read(gatt.SERIAL_NUMBER).decode(), nominal=dut.get_info().serial)


@pytest.fixture(autouse=True)
def _board_idle(dut: Ws100Driver):
    """Each radio step starts from IDLE, the mode the advertising limits assume."""
    dut.set_mode(Mode.IDLE)
