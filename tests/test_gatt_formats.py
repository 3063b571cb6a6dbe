"""The radio's formats: standard characteristics, advertising payload and control messages."""

import pytest
from construct import ConstructError
from hypothesis import given
from hypothesis import strategies as st

from protocols import gatt


@pytest.mark.parametrize(("construct", "value", "wire"), [
    (gatt.TEMPERATURE, 22.5, "ca 08"),  # 2250 x 0.01 degC, little endian
    (gatt.TEMPERATURE, -40.0, "60 f0"),  # sint16: below zero is two's complement
    (gatt.HUMIDITY, 45.0, "94 11"),  # 4500 x 0.01 %
    (gatt.PRESSURE, 101325.0, "02 76 0f 00"),  # 1013250 x 0.1 Pa, uint32
    (gatt.BATTERY, 58, "3a"),
])
def test_known_values_match_the_assigned_numbers(construct, value, wire) -> None:
    assert construct.build(value).hex(" ") == wire
    assert construct.parse(bytes.fromhex(wire)) == value


@given(st.integers(-0x8000, 0x7FFF))
def test_temperature_round_trips_every_raw_value(raw: int) -> None:
    data = raw.to_bytes(2, "little", signed=True)
    assert gatt.TEMPERATURE.build(gatt.TEMPERATURE.parse(data)) == data


@given(st.integers(0, 0xFFFF))
def test_humidity_round_trips_every_raw_value(raw: int) -> None:
    data = raw.to_bytes(2, "little")
    assert gatt.HUMIDITY.build(gatt.HUMIDITY.parse(data)) == data


@given(st.integers(0, 0xFFFFFFFF))
def test_pressure_round_trips_every_raw_value(raw: int) -> None:
    data = raw.to_bytes(4, "little")
    assert gatt.PRESSURE.build(gatt.PRESSURE.parse(data)) == data


@pytest.mark.parametrize(("construct", "value"), [
    (gatt.TEMPERATURE, 327.68), (gatt.HUMIDITY, -0.01), (gatt.BATTERY, 256)])
def test_values_outside_the_format_are_refused(construct, value) -> None:
    with pytest.raises(ConstructError):
        construct.build(value)


@given(st.fixed_dictionaries({name: st.integers(0, 255) for name in
                              ("fw_major", "fw_minor", "fw_patch", "battery_pct", "flags")}))
def test_manufacturer_payload_round_trips(fields: dict) -> None:
    data = gatt.MANUFACTURER_PAYLOAD.build(fields)
    assert len(data) == 5
    parsed = gatt.MANUFACTURER_PAYLOAD.parse(data)
    assert {name: parsed[name] for name in fields} == fields


@given(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_control_messages_round_trip(op: int, status: int, mode: int) -> None:
    request = gatt.CONTROL_REQUEST.build(dict(op=op, value=mode))
    assert request == bytes([op, mode])
    assert gatt.CONTROL_REQUEST.parse(request).value == mode
    reply = gatt.CONTROL_REPLY.parse(gatt.CONTROL_REPLY.build(dict(op=op, status=status,
                                                                  mode=mode)))
    assert (reply.op, reply.status, reply.mode) == (op, status, mode)


def test_short_control_request_is_refused() -> None:
    with pytest.raises(gatt.PARSE_ERRORS):
        gatt.CONTROL_REQUEST.parse(b"\x01")


def test_uuids_are_in_bleaks_128_bit_form() -> None:
    assert gatt.TEMPERATURE_UUID == "00002a6e-0000-1000-8000-00805f9b34fb"
    assert set(gatt.FORMATS) == {gatt.TEMPERATURE_UUID, gatt.HUMIDITY_UUID, gatt.PRESSURE_UUID,
                                 gatt.BATTERY_LEVEL, gatt.CONTROL_TELEMETRY}


def test_telemetry_is_counted_and_little_endian() -> None:
    wire = gatt.TELEMETRY.build(dict(seq=0x0102, temperature_c=22.5, humidity_pct=45.0,
                                     pressure_pa=101325.0))
    assert wire.hex(" ") == "02 01 ca 08 94 11 02 76 0f 00"  # seq, sint16, uint16, uint32


def test_es_trigger_setting_is_condition_and_uint24_seconds() -> None:
    wire = gatt.ES_TRIGGER_MIN_INTERVAL.build(dict(
        condition=gatt.ES_TRIGGER_CONDITION_MIN_INTERVAL, seconds=0x010203))
    assert wire.hex(" ") == "02 03 02 01"
