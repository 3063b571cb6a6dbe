"""A Bumble virtual controller with the link-layer behaviour a plan can notice on real radios.

    link = LocalLink()
    board = RadioController("board", link=link, rng=random.Random(7))
    central = RadioController("central", link=link, rng=random.Random(8), host_source=...,
                              host_sink=...)
    ...
    board.fall_silent()   # a reset: the central sees reason 0x08 after its supervision timeout

Bumble 0.0.236's `Controller` is a protocol model without time: it advertises at a fixed period,
reports every advertisement as an extended report with the advertising data repeated as a scan
response, reports connection parameters of 10/0/10 whatever was asked, ends a link only by an
LL_TERMINATE_IND and accepts a connection cancel without completing it. A plan tuned against that
fails on a desk for reasons unrelated to the board. This subclass is what a real controller does:

- legacy advertising only (no LE Extended Advertising feature), so hosts use ADV_IND and legacy
  advertising reports; advertising or scan response data over 31 bytes is refused (0x12), as the
  HCI command cannot carry it; every advertising event is delayed by advDelay, uniform 0-10 ms (Core
  Vol 6 Part B 4.4.2.2), drawn from a seeded generator;
- a scan response of its own (the scan response data the host set), reported to active scanners;
- connection interval, peripheral latency and supervision timeout as the central asked, reported
  to both hosts;
- `fall_silent()`: the chip stops transmitting (reset, power loss, out of range) and each peer
  notices after its connection's supervision timeout, with reason 0x08 Connection Timeout;
- LE Create Connection Cancel completes the pending attempt with status 0x02 (Core Vol 4 Part E
  7.8.13), so a central that gives up can connect again without reopening the controller;
- `RadioLink` carries data from a public-address device with that address (Bumble's LocalLink
  always stamps the sender's random address, so a public-address peripheral's replies are lost).

`AirFaults` are faults of the air between board and bench (`radio.*` in emulators/faults.py),
seeded, on the link so that every board's radio has them: a CONNECT_IND the advertiser never
hears (the central's link fails to be established, reason 0x3E, after six connection events), a
link cut in the middle of a notification (that notification never arrives, nothing crosses the
link again, each side sees reason 0x08 after its supervision timeout), a notification that never
arrives (a real link layer retransmits until acknowledged; the loss stands for a host stack or a
sniffed-out air that drops it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Mapping

from bumble import hci, ll
from bumble.controller import Connection, Controller, LegacyAdvertiser
from bumble.core import PhysicalTransport
from bumble.link import LocalLink

ADV_DELAY_MAX_S = 0.010  # advDelay: 0-10 ms added to every advertising event
LEGACY_DATA_MAX = 31  # bytes of advertising (or scan response) data in a legacy PDU
_UNIT_S = 0.000625  # advertising intervals are in 0.625 ms units
_SUPERVISION_UNIT_S = 0.010  # supervision timeout is in 10 ms units
_ACTIVE_SCANNING = hci.HCI_LE_Set_Scan_Parameters_Command.ACTIVE_SCANNING
_INTERVAL_UNIT_S = 0.00125  # connection intervals are in 1.25 ms units
EVENTS_TO_ESTABLISH = 6  # Core Vol 6 Part B 4.5.2: no packet in 6 connection events -> 0x3E
_ATT_NOTIFICATION = (0x0004).to_bytes(2, "little") + bytes([0x1B])  # L2CAP CID, ATT opcode


@dataclasses.dataclass
class AirFaults:
    """The `radio.*` faults of emulators/faults.py, as the link applies them."""

    link_loss_after: int = 0  # the Nth notification on the air is cut and its link lost; 0: never
    notify_drop_rate: float = 0.0  # each notification never arrives with this probability
    refuse_first_connect: bool = False  # the first CONNECT_IND is not heard by the advertiser
    seed: int = 0

    @classmethod
    def named(cls, faults: Mapping[str, float], seed: int = 0) -> AirFaults:
        return cls(link_loss_after=int(faults.get("radio.link_loss_after", 0)),
                   notify_drop_rate=float(faults.get("radio.notify_drop_rate", 0.0)),
                   refuse_first_connect=bool(faults.get("radio.refuse_first_connect", 0)),
                   seed=seed)


@dataclasses.dataclass
class ScannableAdvInd(ll.AdvInd):
    """ADV_IND with the scan response the advertiser gives to an active scanner's SCAN_REQ."""

    scan_response: bytes = b""


@dataclasses.dataclass(frozen=True)
class ConnectionParameters:
    """What the central asked in CONNECT_IND, in HCI units (1.25 ms, events, 10 ms)."""

    interval: int
    latency: int
    supervision_timeout: int

    @property
    def supervision_timeout_s(self) -> float:
        return self.supervision_timeout * _SUPERVISION_UNIT_S


class DelayedAdvertiser(LegacyAdvertiser):
    """Legacy ADV_IND events every advInterval + advDelay, with the host's scan response."""

    def __init__(self, controller: RadioController) -> None:
        super().__init__(controller)

    def _on_timer_fired(self) -> None:
        self.send_advertising_data()
        controller: RadioController = self.controller  # type: ignore[assignment]
        delay = self.advertising_interval_min * _UNIT_S + controller.rng.uniform(0,
                                                                                 ADV_DELAY_MAX_S)
        self.timer_handle = asyncio.get_running_loop().call_later(delay, self._on_timer_fired)

    def send_advertising_data(self) -> None:
        if self.enabled and self.advertising_type == (
                hci.HCI_LE_Set_Advertising_Parameters_Command.AdvertisingType.ADV_IND):
            self.controller.send_advertising_pdu(ScannableAdvInd(
                self.address, self.advertising_data, self.scan_response_data))


class RadioLink(LocalLink):
    """Bumble's in-process link, with LE data stamped by the address the sender uses on it, and
    the air's faults."""

    def __init__(self, faults: AirFaults | None = None) -> None:
        super().__init__()
        self.faults = faults or AirFaults()
        self._rng = random.Random(self.faults.seed)
        self._notifications = 0
        self._refused = False
        self.injected = {"connects_refused": 0, "links_lost": 0, "notifications_dropped": 0}

    def send_advertising_pdu(self, sender_controller: Controller, packet: ll.AdvertisingPdu
                             ) -> None:
        if (isinstance(packet, ll.ConnectInd) and self.faults.refuse_first_connect
                and not self._refused and isinstance(sender_controller, RadioController)):
            self._refused = True
            self.injected["connects_refused"] += 1
            sender_controller.fail_to_establish(packet)  # the advertiser never hears it
            return
        super().send_advertising_pdu(sender_controller, packet)

    def send_ll_control_pdu(self, sender_address: hci.Address, receiver_address: hci.Address,
                            packet: ll.ControlPdu) -> None:
        sender = self.find_le_controller(sender_address)
        connection = sender.le_connections.get(receiver_address) if sender else None
        if isinstance(sender, RadioController) and connection is not None and (
                connection.handle in sender.cut):
            return  # an LL_TERMINATE_IND on a link that is gone reaches nobody
        super().send_ll_control_pdu(sender_address, receiver_address, packet)

    def _lost_on_air(self, sender: Controller, connection: Connection, data: bytes) -> bool:
        """Whether this L2CAP PDU never arrives: its link is cut, or the faults say so."""
        if not isinstance(sender, RadioController):
            return False
        if connection.handle in sender.cut:
            return True
        if data[2:5] != _ATT_NOTIFICATION:
            return False
        self._notifications += 1
        if self._notifications == self.faults.link_loss_after:
            self.injected["links_lost"] += 1
            self._cut(sender, connection)
            return True
        if self.faults.notify_drop_rate and self._rng.random() < self.faults.notify_drop_rate:
            self.injected["notifications_dropped"] += 1
            return True
        return False

    def _cut(self, sender: RadioController, connection: Connection) -> None:
        """Lose the link mid-PDU: nothing crosses it again; each side times out by itself."""
        receiver = self.find_le_controller(connection.peer_address)
        peer = receiver.le_connections.get(connection.self_address) if receiver else None
        for controller, end in ((sender, connection), (receiver, peer)):
            if isinstance(controller, RadioController) and end is not None:
                controller.lose(end)

    def send_acl_data(self, sender_controller: Controller, destination_address: hci.Address,
                      transport: PhysicalTransport, data: bytes) -> None:
        connection = sender_controller.le_connections.get(destination_address)
        if connection is not None and self._lost_on_air(sender_controller, connection, data):
            return
        receiver = self.find_le_controller(destination_address)
        if transport != PhysicalTransport.LE or connection is None or receiver is None:
            super().send_acl_data(sender_controller, destination_address, transport, data)
            return
        asyncio.get_running_loop().call_soon(receiver.on_link_acl_data,
                                             connection.self_address, transport, data)


class RadioController(Controller):
    """A Bumble controller on a `LocalLink` that keeps time like a real link layer."""

    def __init__(self, name: str, *, link: LocalLink, rng: random.Random, host_source=None,
                 host_sink=None, public_address: str | None = None) -> None:
        super().__init__(name, host_source=host_source, host_sink=host_sink, link=link,
                         public_address=public_address)
        self.rng = rng
        self.le_features = self.le_features & ~(hci.LeFeatureMask.LE_EXTENDED_ADVERTISING
                                                | hci.LeFeatureMask.LE_PERIODIC_ADVERTISING)
        self.le_legacy_advertiser = DelayedAdvertiser(self)
        self.parameters: dict[hci.Address, ConnectionParameters] = {}
        self.cut: set[int] = set()  # handles of links lost on the air, until their timeout
        self._connect_ind: ll.ConnectInd | None = None

    # --- scanning: legacy reports, the advertiser's own scan response ---------------------
    def on_advertising_pdu(self, pdu: ll.AdvInd | ll.AdvExtInd) -> None:
        if self.le_scan_enable:
            kind = hci.HCI_LE_Advertising_Report_Event.EventType
            reports = [(kind.ADV_IND, pdu.data)]
            scan_response = getattr(pdu, "scan_response", b"")
            if self.le_scan_type == _ACTIVE_SCANNING and scan_response:
                reports.append((kind.SCAN_RSP, scan_response))
            for event_type, data in reports:
                self.send_hci_packet(hci.HCI_LE_Advertising_Report_Event([
                    hci.HCI_LE_Advertising_Report_Event.Report(
                        event_type=event_type, address_type=pdu.advertiser_address.address_type,
                        address=pdu.advertiser_address, data=data, rssi=-50)]))
        pending = self.pending_le_connection
        # A real initiator matches address *and* type: 00:1B:DC:.. public is not the random
        # address of the same digits (Bumble's compares the digits only).
        if pending is not None and pending.peer_address == pdu.advertiser_address and (
                getattr(pending, "peer_address_type", None)
                in (None, pdu.advertiser_address.address_type)):
            self.create_le_connection(pdu.advertiser_address)

    # --- legacy data: 31 bytes at most -----------------------------------------------------
    def on_hci_le_set_advertising_data_command(
            self, command: hci.HCI_LE_Set_Advertising_Data_Command
    ) -> hci.HCI_StatusReturnParameters:
        if len(command.advertising_data) > LEGACY_DATA_MAX:
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR)
        return super().on_hci_le_set_advertising_data_command(command)

    def on_hci_le_set_scan_response_data_command(
            self, command: hci.HCI_LE_Set_Scan_Response_Data_Command
    ) -> hci.HCI_StatusReturnParameters:
        if len(command.scan_response_data) > LEGACY_DATA_MAX:
            return hci.HCI_StatusReturnParameters(
                hci.HCI_ErrorCode.INVALID_HCI_COMMAND_PARAMETERS_ERROR)
        return super().on_hci_le_set_scan_response_data_command(command)

    # --- connection parameters, as asked ----------------------------------------------------
    def create_le_connection(self, peer_address: hci.Address) -> None:
        pending = self.pending_le_connection
        if isinstance(pending, hci.HCI_LE_Create_Connection_Command):
            self.parameters[pending.peer_address] = ConnectionParameters(
                pending.connection_interval_min, pending.max_latency,
                pending.supervision_timeout)
        super().create_le_connection(peer_address)

    def on_le_connect_ind(self, packet: ll.ConnectInd) -> None:
        self._connect_ind = packet
        try:
            super().on_le_connect_ind(packet)
        finally:
            self._connect_ind = None

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        ind = self._connect_ind
        if ind is not None and isinstance(packet, hci.HCI_LE_Connection_Complete_Event):
            # Bumble reports 10/0/10 to the peripheral whatever CONNECT_IND said.
            self.parameters[ind.initiator_address] = ConnectionParameters(
                ind.interval, ind.latency, ind.timeout)
            packet = dataclasses.replace(packet, connection_interval=ind.interval,
                                         peripheral_latency=ind.latency,
                                         supervision_timeout=ind.timeout)
        super().send_hci_packet(packet)

    def on_le_disconnected(self, connection: Connection, reason: int) -> None:
        self.parameters.pop(connection.peer_address, None)
        self.cut.discard(connection.handle)
        super().on_le_disconnected(connection, reason)

    # --- connection cancel that completes -------------------------------------------------
    def on_hci_le_create_connection_cancel_command(
            self, _command: hci.HCI_Command) -> hci.HCI_StatusReturnParameters:
        pending, self.pending_le_connection = self.pending_le_connection, None
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        # After the command's own Command Complete, the attempt ends with status 0x02.
        asyncio.get_running_loop().call_soon(self.send_hci_packet,
                                             hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR, connection_handle=0,
            role=hci.Role.CENTRAL, peer_address_type=pending.peer_address_type,
            peer_address=pending.peer_address, connection_interval=0, peripheral_latency=0,
            supervision_timeout=0, central_clock_accuracy=0))
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    # --- time on the link -----------------------------------------------------------------
    def fall_silent(self) -> None:
        """Stop transmitting at once, as a chip that resets or loses power does.

        No LL_TERMINATE_IND goes out: each peer keeps its link until that link's supervision
        timeout passes, then reports reason 0x08. Our own host is told its links are gone now
        (a rebooting firmware starts with none).
        """
        self.le_legacy_advertiser.stop()
        loop = asyncio.get_running_loop()
        timeout = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
        for peer_address, connection in list(self.le_connections.items()):
            parameters = self.parameters.get(peer_address)
            peer = self.link.find_le_controller(peer_address)
            if isinstance(peer, RadioController):
                peer_connection = peer.le_connections.get(connection.self_address)
                delay = parameters.supervision_timeout_s if parameters else 0.0
                loop.call_later(delay, peer.supervision_timeout, peer_connection)
            self.on_le_disconnected(connection, timeout)

    def lose(self, connection: Connection) -> None:
        """The link went silent on the air: hear nothing more on it, and time out."""
        self.cut.add(connection.handle)
        parameters = self.parameters.get(connection.peer_address)
        delay = parameters.supervision_timeout_s if parameters else 0.0
        asyncio.get_running_loop().call_later(delay, self.supervision_timeout, connection)

    def fail_to_establish(self, connect_ind: ll.ConnectInd) -> None:
        """Our CONNECT_IND went unheard: the link, reported as created, never hears the
        peripheral and ends with 0x3E Connection Failed to be Established (Core Vol 6 Part B
        4.5.2) after six connection events."""
        connection = self.le_connections.get(connect_ind.advertiser_address)
        if connection is None:
            return
        self.cut.add(connection.handle)

        def failed() -> None:
            if self.le_connections.get(connection.peer_address) is connection:
                self.on_le_disconnected(
                    connection, hci.HCI_ErrorCode.CONNECTION_FAILED_TO_BE_ESTABLISHED_ERROR)

        asyncio.get_running_loop().call_later(
            EVENTS_TO_ESTABLISH * connect_ind.interval * _INTERVAL_UNIT_S, failed)

    def supervision_timeout(self, connection: Connection | None) -> None:
        """The peer stayed silent for the whole supervision timeout: the link is lost."""
        if connection is not None and (
                self.le_connections.get(connection.peer_address) is connection):
            self.on_le_disconnected(connection, hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR)
