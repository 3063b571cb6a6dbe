"""The ${name}'s driver: what plans call (through the `dut` fixture), and its identity."""

from __future__ import annotations

import time

from bench.kits import Identity, ProductSpec
from drivers.errors import IdentityError, ReplyMismatchError
from drivers.serial_link import SerialLink

from ${name}_kit.codec import Frame
from ${name}_kit.protocol import IDENTIFY, IDENTITY, PING, RESET

BANNER = r"${name} ready\r?\n"


class Driver:
    def __init__(self, link: SerialLink, spec: ProductSpec | None = None) -> None:
        self.link = link
        self.spec = spec

    def start(self) -> None:
        """A known state: reset, then the boot banner."""
        self.link.clear_console()
        self.link.request(Frame(RESET))
        self.link.expect(BANNER, 2.0)

    def ping(self, data: bytes = b"${name}") -> float:
        start = time.perf_counter()
        reply = self.link.request(Frame(PING, data))
        elapsed = time.perf_counter() - start
        if reply.payload != data:
            raise ReplyMismatchError(f"{self.link.port}: echo {reply.payload.hex(' ')} != "
                                     f"sent {data.hex(' ')}")
        return elapsed

    def identify(self) -> tuple[str, str]:
        """(unique id in hex, firmware as major.minor.patch)."""
        payload = self.link.request(Frame(IDENTIFY)).payload
        if len(payload) != IDENTITY.sizeof():
            raise IdentityError(f"{self.link.port}: IDENTIFY reply of {len(payload)} bytes, "
                                f"expected {IDENTITY.sizeof()}")
        fields = IDENTITY.parse(payload)
        return fields.unique_id.hex(), ".".join(str(part) for part in fields.fw)


def read_identity(driver: Driver) -> Identity:
    unique_id, firmware = driver.identify()
    return Identity(unique_id=unique_id, firmware=firmware)
