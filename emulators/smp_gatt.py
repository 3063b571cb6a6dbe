"""SMP as a GATT service: any emulated board's mcumgr server on its radio.

    services.extend(smp_services(peripheral, board.bootloader, board.reset, board.defects,
                                 board.knobs))

The SMP service (8d53dc1d-1db7-4cd3-868b-8a527460aa84) has one characteristic (da2e7828-...):
the client writes a request without response, in as many writes as its ATT MTU needs; the
server gathers them until the SMP header's length is complete, and notifies the answer, cut to
the link's MTU. Unlike the serial face there is no base64 and no CRC: the link layer checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from bumble import gatt
from bumble.device import Connection

from emulators.ble_peripheral import BlePeripheral, Props, attribute_uuid
from emulators.mcuboot import Mcuboot

if TYPE_CHECKING:
    from emulators.smp_server import SmpServer

SMP_SERVICE = "8d53dc1d-1db7-4cd3-868b-8a527460aa84"
SMP_CHARACTERISTIC = "da2e7828-fbce-4e01-ae9e-261174997c48"


def smp_services(peripheral: BlePeripheral, bootloader: Mcuboot, reset: Callable[[], None],
                 defects: Iterable[str], knobs: Mapping[str, float]) -> list[gatt.Service]:
    """The SMP service of a board with MCUboot (every board's radio face calls this one), or
    none without the `dfu` extra: a board without mcumgr is what the bench then emulates."""
    try:
        from emulators.smp_server import SmpServer
    except ModuleNotFoundError:
        return []
    return [smp_service(peripheral, SmpServer(bootloader, reset, defects, knobs))]


def smp_service(peripheral: BlePeripheral, server: SmpServer) -> gatt.Service:
    """The SMP GATT service of `peripheral`, answering through `server`."""
    from smp import header as smphdr  # the dfu extra: present once a server exists

    pending: dict[Connection, bytearray] = {}

    def on_write(connection: Connection, value: bytes) -> None:
        frame = pending.setdefault(connection, bytearray())
        frame += value
        if len(frame) < smphdr.Header.SIZE:
            return
        size = smphdr.Header.SIZE + smphdr.Header.loads(frame[:smphdr.Header.SIZE]).length
        if len(frame) < size:
            return
        request = bytes(frame[:size])
        del pending[connection]
        reply = server.handle(request)
        if reply is not None:
            peripheral.spawn(answer(connection, reply))

    async def answer(connection: Connection, reply: bytes) -> None:
        step = connection.att_mtu - 3
        for start in range(0, len(reply), step):
            await peripheral.device.notify_subscriber(connection, characteristic,
                                                      reply[start:start + step])
        server.after_reply()

    characteristic = peripheral.characteristic(
        SMP_CHARACTERISTIC, Props.WRITE_WITHOUT_RESPONSE | Props.NOTIFY, write=on_write)
    return gatt.Service(attribute_uuid(SMP_SERVICE), [characteristic])
