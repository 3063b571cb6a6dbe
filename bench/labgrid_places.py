"""Benches on labgrid places: a station profile names `labgrid://PLACE/RESOURCE`, a run holds the
place from its start to its end, whatever the ending.

    lease = acquire(load_station("fixtures/ws100-labgrid.toml"))   # None: no role on a place
    lease.profile.dut.port      # 'rfc2217://127.0.0.1:35883?ign_set_control'
    lease.identity()            # place, exporters, user: the run record's station identity
    lease.release()             # also at interpreter exit; `bench lab release-stale` after kill -9

PLACE is a place's name, or tags (`labgrid://board=ws100,desk=3/console`): then the first idle
place carrying them, by name. RESOURCE is the resource's name in the place (its match's rename
if any) or its class when the place holds one of that class. Every role of a profile names the
same place: one run, one place. The coordinator is `$LG_COORDINATOR` (as for labgrid-client),
else 127.0.0.1:20408.

Why the coordinator and not a scheduler of our own: a lab that has labgrid already says which
board sits where and who holds it; a bench is one more client. Each run acquires as its own
labgrid user, `citebench-<pid>-<start tick>` on this host (LG_USERNAME), so a run killed with
`kill -9` (labgrid keeps a killed client's place acquired) is recognised later as dead and
released by `bench lab release-stale`, which releases nothing a living run or a person holds.

The resources citebench reads, by labgrid class: `NetworkSerialPort` (an exporter's serial port,
ser2net started by the exporter; rfc2217 through pyserial needs `?ign_set_control` against
ser2net 4), `PyVISADevice` (`type::url`, `::INSTR` appended as labgrid's driver does unless the
url ends in a VISA resource class already, e.g. `::SOCKET`) and `BumbleHCI`, a class of ours
that an exporter publishes as is: `transport` is a Bumble HCI transport string for the radio.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.station import StationError, StationProfile, role_resource, with_resources

SCHEME = "labgrid://"
DEFAULT_COORDINATOR = "127.0.0.1:20408"
USER_PREFIX = "citebench-"
RELEASE_HINT = "bench lab release-stale"
T = TypeVar("T")
# which labgrid classes may bind which role
_ROLE_CLASSES = {"dut": {"NetworkSerialPort"}, "psu": {"PyVISADevice"},
                 "dmm": {"PyVISADevice"}, "radio": {"BumbleHCI"}}


class PlaceError(StationError):
    """A labgrid place cannot be reached, acquired or read; the message names the place."""


@dataclass(frozen=True)
class PlaceRef:
    """One `labgrid://` resource of a profile, parsed."""

    place: str  # the place's name; "" when chosen by tags
    tags: tuple[tuple[str, str], ...]
    resource: str

    @property
    def selector(self) -> str:
        return self.place or ",".join(f"{key}={value}" for key, value in self.tags)


def parse(uri: str, where: str) -> PlaceRef:
    """`labgrid://PLACE/RESOURCE` or `labgrid://TAG=VALUE[,TAG=VALUE]/RESOURCE`."""
    place, sep, resource = uri.removeprefix(SCHEME).partition("/")
    if not (uri.startswith(SCHEME) and sep and place and resource) or "/" in resource:
        raise StationError(f"{where}: {uri!r} is not labgrid://PLACE/RESOURCE "
                           "(PLACE a name or TAG=VALUE[,TAG=VALUE])")
    if "=" not in place:
        return PlaceRef(place, (), resource)
    pairs = [item.partition("=") for item in place.split(",")]
    if any(not key or not sep or not value for key, sep, value in pairs):
        raise StationError(f"{where}: {uri!r}: tags must be TAG=VALUE[,TAG=VALUE]")
    return PlaceRef("", tuple(sorted((key, value) for key, _, value in pairs)), resource)


def place_refs(profile: StationProfile) -> dict[str, PlaceRef]:
    """Each role the profile binds to a labgrid place; all name one place, or StationError."""
    refs = {}
    for role in profile.roles:
        resource = role_resource(profile, role)
        if resource.startswith(SCHEME):
            refs[role] = parse(resource, f"{profile.path}: [{role}]")
    if "radio" in refs and profile.radio.backend != "bumble":
        raise StationError(f"{profile.path}: [radio] on a labgrid place is a Bumble HCI "
                           f"transport (BumbleHCI): backend must be \"bumble\", got "
                           f"{profile.radio.backend!r}")
    selectors = {ref.selector for ref in refs.values()}
    if len(selectors) > 1:
        named = ", ".join(f"[{role}] {ref.selector}" for role, ref in refs.items())
        raise StationError(f"{profile.path}: one run holds one labgrid place; the roles name "
                           f"{len(selectors)}: {named}")
    return refs


def run_user() -> str:
    """This run's labgrid user: its pid and start tick, so that a recycled pid is not taken for
    the run that died."""
    return f"{USER_PREFIX}{os.getpid()}-{_start_tick(os.getpid())}"


def _start_tick(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rpartition(")")[2].split()[19]  # field 22, after the command name


def _owner_alive(user: str) -> bool:
    pid, _, tick = user.removeprefix(USER_PREFIX).partition("-")
    if not pid.isdigit():
        return False
    if tick:
        return _start_tick(int(pid)) == tick
    try:  # no /proc where the run started: its pid alone says it
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def coordinator_address() -> str:
    return os.environ.get("LG_COORDINATOR", DEFAULT_COORDINATOR)


@functools.cache
def _client_loop() -> asyncio.AbstractEventLoop:
    """One loop for every labgrid session of the process, run by one session at a time and never
    closed: gRPC's completion queue keeps posting to the loop it first served."""
    return asyncio.new_event_loop()


def _talk(address: str, user: str, work: Callable[[Any, asyncio.AbstractEventLoop], T]) -> T:
    """`work(session, loop)` with a labgrid client session as `user`, in a thread of its own:
    labgrid's gRPC channel binds to its thread's current event loop, and the run's own loops
    (the radio's bleak) must neither see nor lose theirs."""
    from labgrid.remote.client import start_session

    outcome: dict[str, Any] = {}

    def talk() -> None:
        loop = _client_loop()
        asyncio.set_event_loop(loop)
        try:
            try:
                session = start_session(address, loop=loop)
            except Exception as error:  # grpc and labgrid raise several kinds; one meaning here
                raise PlaceError(f"labgrid coordinator {address}: cannot connect "
                                 f"({type(error).__name__}: {error}); set LG_COORDINATOR"
                                 ) from None
            try:
                outcome["value"] = work(session, loop)
            finally:
                loop.run_until_complete(session.stop())
                loop.run_until_complete(session.close())
        except BaseException as error:  # handed to the caller's thread
            outcome["error"] = error

    saved = os.environ.get("LG_USERNAME")
    os.environ["LG_USERNAME"] = user  # labgrid's client names itself from it
    try:
        thread = threading.Thread(target=talk, name="labgrid-client")
        thread.start()
        thread.join()
    finally:
        if saved is None:
            os.environ.pop("LG_USERNAME", None)
        else:
            os.environ["LG_USERNAME"] = saved
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass
class Lease:
    """A place this run holds, and what its roles resolved to."""

    coordinator: str
    place: str
    owner: str  # host/user, as the coordinator writes `acquired`
    profile: StationProfile  # the profile with every labgrid role resolved
    bindings: dict[str, str]  # role -> exporter/group/class/name
    released: bool = False

    @property
    def exporters(self) -> list[str]:
        return sorted({binding.split("/")[0] for binding in self.bindings.values()})

    def identity(self) -> dict:
        """What the run record keeps: which place, through which exporters, as whom."""
        return {"coordinator": self.coordinator, "place": self.place, "user": self.owner,
                "exporters": self.exporters, "resources": self.bindings,
                "if_killed": f"the place stays acquired by {self.owner}: run "
                             f"`{RELEASE_HINT}` on {self.owner.split('/')[0]}"}

    def release(self) -> bool:
        """Give the place back (once; a place someone else holds by now is left alone). A
        coordinator that does not answer is reported, never raised: the run's end must still be
        recorded, and `bench lab release-stale` frees the place once this process is gone."""
        if self.released:
            return True
        try:
            _talk(self.coordinator, self.owner.split("/", 1)[1], lambda session, loop:
                  loop.run_until_complete(_release(session, self.place, self.owner)))
        except Exception as error:  # grpc's and ours: all leave the place held
            print(f"labgrid: place {self.place} NOT released ({error}); it stays acquired by "
                  f"{self.owner}: run `{RELEASE_HINT}` on this host", file=sys.stderr)
            return False
        self.released = True
        print(f"labgrid: released place {self.place}", file=sys.stderr)
        return True


async def _release(session, place: str, owner: str) -> None:
    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

    await session.stub.ReleasePlace(pb2.ReleasePlaceRequest(placename=place, fromuser=owner))
    await session.sync_with_coordinator()


def acquire(profile: StationProfile, timeout_s: float = 15.0) -> Lease | None:
    """Acquire the profile's place as this run's user and resolve its roles; None when no role
    names a place. The place is released at interpreter exit unless released before."""
    refs = place_refs(profile)
    if not refs:
        return None
    _require_labgrid(profile)
    address, user = coordinator_address(), run_user()

    def hold(session, loop: asyncio.AbstractEventLoop) -> Lease:
        owner = f"{session.gethostname()}/{user}"
        place = _choose(session, next(iter(refs.values())), address)
        loop.run_until_complete(_acquire(session, place, address))
        try:
            entries = loop.run_until_complete(_ready(session, place, timeout_s))
            found = {role: _find(entries, ref, place, role, profile) for role, ref in refs.items()}
            resolved = {role: _resource_string(entry, binding, role)
                        for role, (binding, entry) in found.items()}
        except BaseException:
            loop.run_until_complete(_release(session, place, owner))
            raise
        return Lease(address, place, owner, with_resources(profile, resolved),
                     {role: binding for role, (binding, _) in found.items()})

    from bench.endings import STOP  # imports this module through bench.session

    STOP.install()  # a signal after the acquisition stops the run at a step boundary: released
    with _signals_held():  # until the release is registered: a signal now would leak the place
        lease = _talk(address, user, hold)
        atexit.register(lease.release)
    print(f"labgrid: acquired place {lease.place} as {lease.owner} (exporters: "
          f"{', '.join(lease.exporters)})", file=sys.stderr, flush=True)
    return lease


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _require_labgrid(profile: StationProfile) -> None:
    try:
        import labgrid  # noqa: F401 - only checks that the extra is installed
    except ImportError:
        raise PlaceError(f"{profile.path}: roles on labgrid places need labgrid: "
                         "pip install 'citebench[labgrid]'") from None


def _choose(session, ref: PlaceRef, address: str) -> str:
    if ref.place:
        if ref.place not in session.places:
            raise PlaceError(f"labgrid place {ref.place!r} does not exist on {address}; places: "
                             f"{', '.join(sorted(session.places)) or '(none)'}")
        return ref.place
    wanted = dict(ref.tags)
    fitting = sorted(name for name, place in session.places.items()
                     if wanted.items() <= dict(place.tags).items())
    idle = [name for name in fitting if not session.places[name].acquired]
    if not idle:
        held = ", ".join(f"{name} (acquired by {session.places[name].acquired})"
                         for name in fitting) or "none carries them"
        raise PlaceError(f"no idle labgrid place on {address} with tags {ref.selector}: {held}")
    return idle[0]


async def _acquire(session, place: str, address: str) -> None:
    import grpc
    from labgrid.remote.generated import labgrid_coordinator_pb2 as pb2

    try:
        await session.stub.AcquirePlace(pb2.AcquirePlaceRequest(placename=place))
    except grpc.aio.AioRpcError as error:
        holder = session.places[place].acquired
        raise PlaceError(f"labgrid place {place} on {address}: cannot acquire "
                         f"({error.details()}){f'; held by {holder}' if holder else ''}"
                         ) from None
    await session.sync_with_coordinator()


async def _ready(session, place: str, timeout_s: float) -> dict[str, object]:
    """The place's resources by exporter/group/class/name (renamed by its matches), once every
    exporter has started them (ser2net's port is published only after the acquisition)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        await session.sync_with_coordinator()
        entries, waiting = {}, []
        found = session.places[place]
        for path in found.acquired_resources:
            exporter, group, cls, name = path
            entry = session.resources.get(exporter, {}).get(group, {}).get(name)
            if entry is None or entry.acquired != place or not _started(entry):
                waiting.append("/".join(path))
                continue
            match = found.getmatch(path)
            entries[f"{exporter}/{group}/{cls}/{(match and match.rename) or name}"] = entry
        if not found.acquired_resources:
            matches = ", ".join(map(str, found.matches)) or "none"
            raise PlaceError(f"labgrid place {place}: its matches ({matches}) name no resource "
                             "an exporter publishes")
        if not waiting:
            return entries
        if loop.time() > deadline:
            raise PlaceError(f"labgrid place {place}: exporter(s) did not start "
                             f"{', '.join(waiting)} within {timeout_s:g} s")
        await asyncio.sleep(0.1)  # the coordinator pushes no event for "started"; ask again


def _started(entry) -> bool:
    return entry.cls != "NetworkSerialPort" or bool(entry.params.get("port"))


def _find(entries: dict[str, object], ref: PlaceRef, place: str, role: str,
          profile: StationProfile) -> tuple[str, object]:
    """The place's resource a role names, by name or by class."""
    chosen = [key for key in entries if key.split("/")[3] == ref.resource] or [
        key for key in entries if key.split("/")[2] == ref.resource]
    where = f"{profile.path}: [{role}] labgrid://{ref.selector}/{ref.resource}"
    if len(chosen) != 1:
        what = "matches several" if chosen else "matches none"
        raise PlaceError(f"{where} {what} of place {place}'s resources: "
                         f"{', '.join(sorted(entries)) or '(none)'}")
    cls = chosen[0].split("/")[2]
    if cls not in _ROLE_CLASSES[role]:
        raise PlaceError(f"{where} is a {cls}; the {role} role takes "
                         f"{' or '.join(sorted(_ROLE_CLASSES[role]))}")
    return chosen[0], entries[chosen[0]]


def _resource_string(entry, binding: str, role: str) -> str:
    """The resource string citebench's drivers open, from a labgrid resource's parameters."""
    params = entry.params
    try:
        if entry.cls == "NetworkSerialPort":
            if params.get("protocol", "rfc2217") == "raw":
                return f"socket://{params['host']}:{params['port']}"
            # ser2net 4 never answers pyserial's SET_CONTROL query: without the flag, every open
            # waits and fails with "timeout while waiting for option 'control'"
            return f"rfc2217://{params['host']}:{params['port']}?ign_set_control"
        if entry.cls == "PyVISADevice":
            resource = f"{params['type']}::{params['url']}"
            return resource if resource.rpartition("::")[2] in ("INSTR", "SOCKET") else (
                resource + "::INSTR")
        return str(params["transport"])
    except KeyError as error:
        raise PlaceError(f"labgrid resource {binding} ({role}) has no parameter {error}; "
                         f"it publishes {sorted(params)}") from None


@dataclass(frozen=True)
class StaleHold:
    place: str
    owner: str


def release_stale(address: str | None = None) -> list[StaleHold]:
    """Release every place held by a citebench run of this host that is no longer running."""
    address = address or coordinator_address()

    def release(session, loop: asyncio.AbstractEventLoop) -> list[StaleHold]:
        mine = f"{session.gethostname()}/{USER_PREFIX}"
        stale = [StaleHold(name, place.acquired) for name, place in sorted(session.places.items())
                 if place.acquired and place.acquired.startswith(mine)
                 and not _owner_alive(place.acquired.split("/", 1)[1])]
        for hold in stale:
            loop.run_until_complete(_release(session, hold.place, hold.owner))
        return stale

    return _talk(address, run_user(), release)


def holds(address: str | None = None) -> dict[str, str]:
    """Every place of the coordinator and who holds it ("" when idle)."""
    return _talk(address or coordinator_address(), run_user(), lambda session, _: {
        name: place.acquired or "" for name, place in sorted(session.places.items())})

