"""The emulated board's SMP (mcumgr) server: OS and image groups over any transport.

    >>> server = SmpServer(Mcuboot("1.4.2"), reset=lambda: None)
    >>> from smp.os_management import EchoWriteRequest, EchoWriteResponse
    >>> EchoWriteResponse.loads(server.handle(EchoWriteRequest(d="hi").BYTES)).r
    'hi'

Requests and responses are the `smp` package's models, so the client (smpclient) and this server
parse with the same declarations. Errors are SMP v2: `{"err": {"group": 1, "rc": IMG_MGMT_ERR}}`
for the image group; a command the server does not implement is an SMP v1 `rc` ENOTSUP, as
Zephyr answers. Defects: `dfu-no-confirm` (confirming is denied), `dfu-match-false` (the last
upload chunk reports `match: false`), `dfu-slow-flash` (each chunk takes flash time ten times a
healthy part's; the knob `dfu.flash_s_per_byte` sets a healthy part's). What MCUboot does with
the slots is emulators/mcuboot.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import cbor2
import smp.image_management as img
import smp.os_management as os_mgmt
from smp import error as smperr
from smp import header as smphdr
from smp import message as smpmsg
from smp.exceptions import SMPException

from emulators.mcuboot import DfuRefusal, Mcuboot

BUF_SIZE = 2048  # CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE: what MCUMGR_PARAMETERS reports
BUF_COUNT = 4
FLASH_S_PER_BYTE = 10e-6  # a healthy MCU writes its internal flash at about 100 kB/s
SLOW_FLASH_FACTOR = 10

_G, _OS, _IMG = smphdr.GroupId, smphdr.CommandId.OSManagement, smphdr.CommandId.ImageManagement
_READ, _WRITE = smphdr.OP.READ, smphdr.OP.WRITE


class SmpServer:
    """Answers SMP frames (bytes in, bytes out) for one board; `reset` runs after the answer."""

    def __init__(self, bootloader: Mcuboot, reset: Callable[[], None],
                 defects: Iterable[str] = (), knobs: Mapping[str, float] | None = None) -> None:
        self.bootloader = bootloader
        self._reset = reset
        self.defects = frozenset(defects)
        self.flash_s_per_byte = (knobs or {}).get("dfu.flash_s_per_byte", FLASH_S_PER_BYTE)
        self.reset_pending = False
        self._routes: dict[tuple[int, int, int], Callable[[bytes], smpmsg.Response]] = {
            (_G.OS_MANAGEMENT, _OS.ECHO, _WRITE): self._echo,
            (_G.OS_MANAGEMENT, _OS.RESET, _WRITE): self._reset_request,
            (_G.OS_MANAGEMENT, _OS.MCUMGR_PARAMETERS, _READ): self._params,
            (_G.IMAGE_MANAGEMENT, _IMG.STATE, _READ): self._state_read,
            (_G.IMAGE_MANAGEMENT, _IMG.STATE, _WRITE): self._state_write,
            (_G.IMAGE_MANAGEMENT, _IMG.UPLOAD, _WRITE): self._upload,
        }

    def handle(self, frame: bytes) -> bytes | None:
        """One request frame in, its response frame out (`reset_pending` set by a reset); None
        for a frame too short to hold a header (there is nobody to answer)."""
        if len(frame) < smphdr.Header.SIZE:
            return None
        try:
            head = smphdr.Header.loads(frame[:smphdr.Header.SIZE])
        except ValueError:  # an unknown op or group: the header names no request to answer
            return None
        route = self._routes.get((head.group_id, head.command_id, head.op))
        if route is None:
            return _error(head, {"rc": int(smperr.MGMT_ERR.ENOTSUP)})
        try:
            return route(frame).BYTES
        except DfuRefusal as refusal:
            return _error(head, {"err": {"group": int(head.group_id),
                                         "rc": int(img.IMG_MGMT_ERR[refusal.code])}})
        except (ValueError, SMPException):  # CBOR that does not parse or misses a field
            return _error(head, {"rc": int(smperr.MGMT_ERR.EINVAL)})

    def after_reply(self) -> None:
        """Reset the board if the last request asked for it (after its answer went out)."""
        if self.reset_pending:
            self.reset_pending = False
            self._reset()

    # --- OS group ---------------------------------------------------------------------------
    def _echo(self, frame: bytes) -> smpmsg.Response:
        request = os_mgmt.EchoWriteRequest.loads(frame)
        return os_mgmt.EchoWriteResponse(sequence=request.sequence, r=request.d)

    def _reset_request(self, frame: bytes) -> smpmsg.Response:
        request = os_mgmt.ResetWriteRequest.loads(frame)
        self.reset_pending = True
        return os_mgmt.ResetWriteResponse(sequence=request.sequence)

    def _params(self, frame: bytes) -> smpmsg.Response:
        request = os_mgmt.MCUMgrParametersReadRequest.loads(frame)
        return os_mgmt.MCUMgrParametersReadResponse(sequence=request.sequence,
                                                    buf_size=BUF_SIZE, buf_count=BUF_COUNT)

    # --- image group ------------------------------------------------------------------------
    def _state_read(self, frame: bytes) -> smpmsg.Response:
        request = img.ImageStatesReadRequest.loads(frame)
        return img.ImageStatesReadResponse(sequence=request.sequence, images=self._states())

    def _state_write(self, frame: bytes) -> smpmsg.Response:
        request = img.ImageStatesWriteRequest.loads(frame)
        if request.confirm and "dfu-no-confirm" in self.defects:
            raise DfuRefusal("IMAGE_CONFIRMATION_DENIED", "this firmware cannot confirm")
        self.bootloader.mark(request.hash, request.confirm)
        return img.ImageStatesWriteResponse(sequence=request.sequence, images=self._states())

    def _states(self) -> list[img.ImageState]:
        boot = self.bootloader
        return [img.ImageState(slot=number, version=slot.version, hash=slot.hash,
                               bootable=True, pending=slot.pending, confirmed=slot.confirmed,
                               active=number == 0, permanent=slot.permanent)
                for number, slot in enumerate(boot.slots) if slot.hash]

    def _upload(self, frame: bytes) -> smpmsg.Response:
        request = img.ImageUploadWriteRequest.loads(frame)
        written = len(request.data)
        factor = SLOW_FLASH_FACTOR if "dfu-slow-flash" in self.defects else 1
        time.sleep(written * self.flash_s_per_byte * factor)  # flash time is the point: no event
        off, match = self.bootloader.write_chunk(request.off, request.data, request.len,
                                                 request.sha)
        if match is not None and "dfu-match-false" in self.defects:
            match = False
        return img.ImageUploadWriteResponse(sequence=request.sequence, off=off, match=match)


def _error(request: smphdr.Header, body: dict) -> bytes:
    """An error answer: the request's header turned into a response, and the CBOR `body`."""
    data = cbor2.dumps(body, canonical=True)
    return bytes(smphdr.Header(op=smphdr.OP(request.op + 1), version=request.version,
                               flags=request.flags, length=len(data), group_id=request.group_id,
                               sequence=request.sequence, command_id=request.command_id)) + data
