"""One bench session: the station profile in use and the run record, created on first use.

The plugin keeps one BenchSession in the pytest config. Nothing is loaded or written until a test
asks for the station or takes a measurement, so unit tests that never touch a board leave no record.
"""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path

from bench import labgrid_places
from bench.kits import kit_identity
from bench.measure import Outcome
from bench.record import RunRecord, load_record, run_verdict
from bench.software import software_identity
from bench.station import (
    StationProfile,
    load_station,
    resolve_profile_path,
    with_defects,
    with_faults,
)


class BenchSession:
    def __init__(self, station_option: str | None, record_path: Path | None, plan_dir: Path,
                 defects: list[str] | None = None, operator: str | None = None,
                 faults: list[str] | None = None):
        self.profile_path = resolve_profile_path(station_option)
        self.defects = defects or []
        self.faults = faults or []
        self.operator = operator
        self.record_path = record_path or default_record_path(plan_dir)
        self.plan_dir = plan_dir
        self._profile: StationProfile | None = None
        self.lease: labgrid_places.Lease | None = None  # the labgrid place the run holds
        self.record: RunRecord | None = None
        self.planned: list[str] = []  # node ids of the steps collected, set by the plugin

    @property
    def profile(self) -> StationProfile:
        if self._profile is None:
            profile = with_faults(with_defects(load_station(self.profile_path),
                                               self.defects, "--defect"), self.faults, "--fault")
            self.lease = labgrid_places.acquire(profile)  # held until finish() (or exit)
            self._profile = self.lease.profile if self.lease else profile
        return self._profile

    def activate(self) -> RunRecord:
        """Open the record and write its start event (station, software, operator)."""
        if self.record is None:
            profile = self.profile
            self.record = RunRecord(self.record_path)
            self.record.calibration_due = {
                role: getattr(profile, role).calibration_due for role in profile.roles
                if getattr(getattr(profile, role), "calibration_due", None) is not None}
            self.record.start(
                station={"id": profile.station.id, "description": profile.station.description,
                         "host": socket.gethostname(), "profile": str(profile.path),
                         "profile_sha256": profile.sha256,
                         "fail_on_expired_calibration":
                             profile.station.fail_on_expired_calibration,
                         **({"labgrid": self.lease.identity()} if self.lease else {})},
                software=software_identity(self.plan_dir),
                operator=self.operator or profile.station.operator,
                planned=self.planned,
                kit=kit_identity(profile.kit),
            )
        return self.record

    def finish(self, interrupted: bool, ending: dict | None = None) -> Outcome | None:
        """Write the run's end: its verdict is read back from the steps the record holds;
        `ending` says what ended it early (bench.endings). A labgrid place is released first,
        however the run ended."""
        if self.lease is not None:
            self.lease.release()
        if self.record is None:
            return None
        view = load_record(self.record.path)
        verdict = Outcome.ABORTED if interrupted else run_verdict(view.step_outcomes)
        problems = [f"{i['role']} calibration expired on {i['calibration_due']}"
                    for i in view.expired_instruments]
        if problems and self.profile.station.fail_on_expired_calibration:
            verdict = max(verdict, Outcome.ERROR)
        self.record.end(verdict, problems, ending=ending)
        self.record.close()
        return verdict


def default_record_path(root: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + f"-{time.monotonic_ns() % 10**6}"
    return root / "reports" / "runs" / stamp / "record.jsonl"
