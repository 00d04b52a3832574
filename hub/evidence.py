"""Evidence bundles: what the hub knows about an alert (or a camera over a time range),
packed as a zip with a manifest of every file's SHA-256, and checked again later.

    exporter = EvidenceExporter(hub)
    evidence = await exporter.export(AlertSubject(12), actor="ops-desk/ann")
    evidence.data               # the zip; evidence.manifest_sha256 is in the audit log
    verify(Path("bundle.zip"))  # -> VerifyResult (also for an unpacked directory)

A bundle of an alert holds the alert, its read(s) with their hits, the reads' plate crop
and overview JPEGs, the camera's snapshot and a clip recorded now (hub.evidence_clip),
and the alert's audit trail. A camera bundle holds the camera's reads in the range (with
their images and alerts), its health transitions in the range, a snapshot and a clip.
A part that cannot be had (camera unreachable) does not stop the export: the manifest's
"not_included" says what is missing and why. Every export is audited ("evidence.export",
who, what, the manifest's SHA-256). No credential goes into a bundle.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import sqlite3
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from drivers.errors import OnvifError
from drivers.onvif import OnvifDevice
from hub.alpr_model import Alert, AuditEntry, ImageKind, Read
from hub.api_json import alert_json, hit_json, read_json, transition_json
from hub.errors import CameraActionError, ClipError, EvidenceError, EvidenceNotFound
from hub.evidence_clip import Clip, clip_seconds, record_clip
from hub.model import HealthReason, HealthSide, HealthState, HealthTransition
from hub.read_rows import ALERT_COLUMNS, ALERT_FROM, READ_COLUMNS, read_from_row, select_alerts
from hub.store import utc_key

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from hub.core import Hub

log = logging.getLogger(__name__)

BUNDLE_FORMAT = "citywatch-evidence/1"
MANIFEST = "manifest.json"
# A camera bundle covers at most a day: longer requests are investigations for the
# store's own exports, and a day of a busy ALPR camera is already thousands of reads.
MAX_RANGE = timedelta(days=1)
# Reads (each with a crop and an overview, ~50-300 kB) in one camera bundle at most.
MAX_RANGE_READS = 2000
# Audit entries of one alert: a worked alert has a handful; this only bounds a runaway.
MAX_AUDIT_ENTRIES = 1000
# Clips recorded at the same time: each holds an RTSP session, a thread and up to tens
# of MB of video in memory until its bundle is sent.
MAX_CONCURRENT_CLIPS = 2
# GetProfiles + GetStreamUri for a camera whose facts the hub has not learned yet.
ONVIF_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AlertSubject:
    alert_id: int


@dataclass(frozen=True)
class CameraSubject:
    camera_id: str
    start: datetime
    end: datetime


Subject = AlertSubject | CameraSubject


@dataclass(frozen=True)
class Evidence:
    """A finished bundle."""

    data: bytes  # the zip
    filename: str  # a name to save it under
    manifest: dict[str, Any]
    manifest_sha256: str


@dataclass(frozen=True)
class VerifyResult:
    """What checking a bundle against its manifest found."""

    checked: int  # files listed in the manifest
    manifest_sha256: str
    missing: tuple[str, ...] = ()  # listed, not there
    changed: tuple[str, ...] = ()  # there, other size or SHA-256
    extra: tuple[str, ...] = ()  # there, not listed
    manifest: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.extra)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Bundle:
    """Files being collected for one bundle, and the parts that could not be."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.not_included: dict[str, str] = {}

    def add(self, path: str, data: bytes, what: str) -> None:
        self.files[path] = (data, what)

    def add_json(self, path: str, value: Any, what: str) -> None:
        self.add(path, json.dumps(value, indent=2, ensure_ascii=False).encode() + b"\n", what)

    def skip(self, part: str, reason: str) -> None:
        self.not_included[part] = reason


class EvidenceExporter:
    """Builds bundles from a running hub."""

    def __init__(self, hub: Hub, *, recorder: Callable[..., Awaitable[Clip]] = record_clip,
                 version: str | None = None) -> None:
        self._hub = hub
        self._record = recorder
        self._version = version or _hub_version()
        self._clips = asyncio.Semaphore(MAX_CONCURRENT_CLIPS)

    async def export(self, subject: Subject, actor: str, clip_s: int | None = None) -> Evidence:
        """The bundle of `subject`, audited as exported by `actor`. Raises EvidenceError
        for an unknown alert or camera or a bad range (nothing is audited then)."""
        seconds = clip_seconds(clip_s)
        bundle = _Bundle()
        now = datetime.now(UTC)
        if isinstance(subject, AlertSubject):
            camera_id = await self._alert_parts(bundle, subject.alert_id)
            described: dict[str, Any] = {"alert": subject.alert_id}
            target = f"alert:{subject.alert_id}"
        else:
            camera_id = subject.camera_id
            await self._camera_parts(bundle, subject)
            described = {"camera": camera_id, "from": subject.start.isoformat(),
                         "to": subject.end.isoformat()}
            target = f"camera:{camera_id}"
        clip = await self._live_parts(bundle, camera_id, seconds)
        manifest = {
            "format": BUNDLE_FORMAT,
            "subject": described,
            "camera": camera_id,
            "exported_by": actor,
            "exported_at": now.isoformat(),
            "hub_version": self._version,
            "clip": None if clip is None else {
                "codec": clip.codec, "container": clip.container, "width": clip.width,
                "height": clip.height, "seconds": round(clip.seconds, 3),
                "packets": clip.packets, "source": clip.source, "re_encoded": False},
            "files": [{"path": path, "size": len(data), "sha256": sha256(data), "what": what}
                      for path, (data, what) in sorted(bundle.files.items())],
            "not_included": dict(sorted(bundle.not_included.items())),
        }
        manifest_bytes = json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n"
        digest = sha256(manifest_bytes)
        data = _zip(bundle, manifest_bytes)
        detail = f"{len(bundle.files)} files" + (
            f"; not included: {', '.join(sorted(bundle.not_included))}"
            if bundle.not_included else "")
        await self._hub.store.run(
            _audit_export, utc_key(now), actor, target, detail,
            (("manifest_sha256", digest), ("files", str(len(bundle.files))),
             *((k, str(v)) for k, v in described.items() if k != "alert")),
        )
        log.info("evidence: %s exported by %s (%d files, manifest %s)", target, actor,
                 len(bundle.files), digest[:12])
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        name = target.replace(":", "-").replace("/", "_")
        return Evidence(data, f"evidence-{name}-{stamp}.zip", manifest, digest)

    # parts from the store -----------------------------------------------------------

    async def _alert_parts(self, bundle: _Bundle, alert_id: int) -> str:
        reads = self._hub.plates.reads
        alert = await reads.alert(alert_id)
        if alert is None:
            raise EvidenceNotFound(f"alert {alert_id} does not exist")
        bundle.add_json("alert.json", alert_json(alert), "the alert as the hub holds it")
        bundle.add_json("hits.json", [hit_json(h) for h in (alert.hit, *alert.other_hits)],
                        "the hotlist entries the read matched, best first")
        found = [alert.read]
        if alert.last_read_id is not None and alert.last_read_id != alert.read.id:
            last = await reads.read(alert.last_read_id)
            if last is None:
                bundle.skip(f"read {alert.last_read_id}", "purged by retention")
            else:
                found.append(last)
        await self._add_reads(bundle, found)
        trail = await reads.audit(f"alert:{alert_id}", MAX_AUDIT_ENTRIES)
        bundle.add_json("audit.json", [_audit_json(e) for e in reversed(trail)],
                        "the alert's audit trail, oldest first")
        return alert.read.camera_id

    async def _camera_parts(self, bundle: _Bundle, subject: CameraSubject) -> None:
        if self._hub.camera(subject.camera_id) is None:
            raise EvidenceNotFound(f"no camera {subject.camera_id!r}")
        start, end = subject.start, subject.end
        if start.tzinfo is None or end.tzinfo is None:
            raise EvidenceError("give the time range with a time zone")
        if not start < end or end - start > MAX_RANGE:
            raise EvidenceError(f"the range must end after it starts and span at most "
                                f"{MAX_RANGE.total_seconds() / 3600:g} h")
        try:
            low, high = utc_key(start), utc_key(end)
        except (OverflowError, ValueError) as exc:  # at the ends of the calendar
            raise EvidenceError(f"the range is out of the calendar: {exc}") from exc
        found, alerts, transitions = await self._hub.store.run(
            _range_rows, subject.camera_id, low, high, MAX_RANGE_READS + 1)
        if len(found) > MAX_RANGE_READS:
            bundle.skip("reads", f"only the first {MAX_RANGE_READS} reads of the range")
            found = found[:MAX_RANGE_READS]
        await self._add_reads(bundle, found)
        for alert in alerts:
            bundle.add_json(f"alerts/alert-{alert.id}.json", alert_json(alert),
                            f"alert {alert.id} raised on a read of the range")
        kept = [t for t in transitions if start <= t.at <= end]
        bundle.add_json("health.json", [transition_json(t) for t in kept],
                        "the camera's health transitions in the range, oldest first")

    async def _add_reads(self, bundle: _Bundle, found: list[Read]) -> None:
        desk = self._hub.plates
        for read in found:
            bundle.add_json(f"reads/read-{read.id}.json", read_json(read),
                            f"read {read.id} of {read.plate}")
            for kind in ImageKind:
                if read.image(kind) is None:
                    continue
                jpeg = await desk.read_image(read.id, kind)
                if jpeg is None:
                    bundle.skip(f"read {read.id} {kind}",
                                "only linked by the sender, or the file is gone")
                    continue
                what = "plate crop" if kind is ImageKind.CROP else "overview"
                bundle.add(f"images/read-{read.id}-{kind}.jpg", jpeg, f"{what} of read {read.id}")

    # parts from the camera ----------------------------------------------------------

    async def _live_parts(self, bundle: _Bundle, camera_id: str, seconds: int) -> Clip | None:
        """The snapshot and the clip, taken at the same time."""
        if self._hub.camera(camera_id) is None:
            reason = f"camera {camera_id} is not one of the hub's cameras"
            bundle.skip("snapshot", "not taken: " + reason)
            bundle.skip("clip", "not recorded: " + reason)
            return None
        snapshot, clip = await asyncio.gather(self._snapshot(camera_id),
                                              self._clip(camera_id, seconds))
        if isinstance(snapshot, bytes):
            bundle.add("snapshot.jpg", snapshot, "the camera's picture at the export")
        else:
            bundle.skip("snapshot", "not taken: " + snapshot)
        if isinstance(clip, Clip):
            bundle.add(f"clip.{clip.extension}", clip.data,
                       f"{clip.seconds:.1f} s of the camera's {clip.codec} stream, recorded "
                       "at the export (stream copy, not re-encoded)")
            return clip
        bundle.skip("clip", "not recorded: " + clip)
        return None

    async def _snapshot(self, camera_id: str) -> bytes | str:
        try:
            return await self._hub.control.snapshot(camera_id)
        except CameraActionError as exc:
            return str(exc)

    async def _clip(self, camera_id: str, seconds: int) -> Clip | str:
        """A clip of the main stream, else of the stream the hub samples; why not."""
        status = self._hub.camera(camera_id)
        assert status is not None
        config = status.config
        try:
            uris = await self._stream_uris(camera_id)
        except CameraActionError as exc:
            return str(exc)
        failures: list[str] = []
        async with self._clips:
            for uri in uris:
                try:
                    return await self._record(uri, username=config.username or None,
                                              password=config.password or None,
                                              seconds=seconds)
                except ClipError as exc:
                    failures.append(str(exc))
        return "; ".join(failures) or "the camera names no stream"

    async def _stream_uris(self, camera_id: str) -> list[str]:
        """The main stream's URI, then the sampled one (from the hub's ONVIF facts, or
        asked now when the hub has not reached the camera yet)."""
        status = self._hub.camera(camera_id)
        assert status is not None
        facts = status.facts
        if facts is not None:
            uris = [facts.stream_uri, facts.sampled.uri if facts.sampled else None]
            return list(dict.fromkeys(u for u in uris if u))
        config = status.config
        try:
            device = OnvifDevice(config.onvif_url, config.username, config.password,
                                 timeout_s=ONVIF_TIMEOUT_S)
        except ValueError as exc:
            raise CameraActionError(f"{config.name}: {exc}") from exc
        try:
            profiles = await device.profiles()
            if not profiles:
                raise CameraActionError(f"{config.name}: the camera has no media profile")
            return [await device.stream_uri(profiles[0].token)]
        except OnvifError as exc:
            raise CameraActionError(f"{config.name}: stream URI: {exc.message}") from exc
        finally:
            try:
                await device.close()
            except OnvifError as exc:
                log.debug("%s: closing the ONVIF session failed: %s", config.name, exc)


def _hub_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("citywatch")
    except PackageNotFoundError:
        return "unknown"


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {"at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "detail": entry.detail, "data": dict(entry.data)}


def _zip(bundle: _Bundle, manifest: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(MANIFEST, manifest, zipfile.ZIP_DEFLATED)
        for path, (data, _) in sorted(bundle.files.items()):
            # JPEG and video do not compress: stored, they cost no CPU either way.
            method = zipfile.ZIP_DEFLATED if path.endswith(".json") else zipfile.ZIP_STORED
            archive.writestr(path, data, method)
    return out.getvalue()


# store access (on the store thread) ----------------------------------------------------


def _audit_export(conn: sqlite3.Connection, at: str, actor: str, target: str, detail: str,
                  data: tuple[tuple[str, str], ...]) -> None:
    # The audit table of hub.read_store: one row, committed at once (autocommit).
    conn.execute(
        "INSERT INTO audit (at, actor, action, target, detail, data) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor, "evidence.export", target, detail, json.dumps([list(p) for p in data])),
    )


def _range_rows(conn: sqlite3.Connection, camera_id: str, start: str, end: str,
                limit: int) -> tuple[list[Read], list[Alert], list[HealthTransition]]:
    reads = [read_from_row(row) for row in conn.execute(
        f"SELECT {READ_COLUMNS} FROM reads WHERE camera_id = ? AND at >= ? AND at <= ?"
        " ORDER BY at, id LIMIT ?", (camera_id, start, end, limit))]
    alerts = select_alerts(
        conn, f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE reads.camera_id = ?"
        " AND reads.at >= ? AND reads.at <= ? ORDER BY alerts.id", (camera_id, start, end))
    # Transition times are stored as isoformat() (not fixed width): compare a day wider
    # as text, then exactly on the parsed times (the caller does).
    try:
        low = (datetime.fromisoformat(start) - timedelta(days=1)).isoformat()
        high = (datetime.fromisoformat(end) + timedelta(days=1)).isoformat()
    except OverflowError:  # a range at the ends of the calendar
        low, high = "0", "A"
    transitions = [
        HealthTransition(r[0], datetime.fromisoformat(r[1]), HealthState(r[2]),
                         HealthState(r[3]), HealthReason(r[4]), r[5], HealthSide(r[6]))
        for r in conn.execute(
            "SELECT camera_id, at, old_state, new_state, reason, detail, side"
            " FROM health_transitions WHERE camera_id = ? AND at >= ? AND at <= ?"
            " ORDER BY at, id", (camera_id, low, high))]
    return reads, alerts, transitions


# checking and unpacking ---------------------------------------------------------------


def _safe_name(name: str) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name:
        raise EvidenceError(f"unsafe path in the bundle: {name!r}")
    return str(path)


def _read_bundle(path: Path) -> dict[str, bytes]:
    """Every file of a bundle (zip or directory) by its relative path."""
    try:
        if path.is_dir():
            return {f.relative_to(path).as_posix(): f.read_bytes()
                    for f in sorted(path.rglob("*")) if f.is_file()}
        with zipfile.ZipFile(path) as archive:
            return {_safe_name(i.filename): archive.read(i) for i in archive.infolist()
                    if not i.is_dir()}
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise EvidenceError(f"{path}: not a readable bundle: {exc}") from exc


def verify(path: Path) -> VerifyResult:
    """Check a bundle (zip or unpacked directory) against its manifest. Raises
    EvidenceError when it is no bundle at all (no manifest, unreadable)."""
    files = _read_bundle(path)
    raw = files.pop(MANIFEST, None)
    if raw is None:
        raise EvidenceError(f"{path}: no {MANIFEST}: not an evidence bundle")
    try:
        manifest = json.loads(raw)
        listed = {_safe_name(str(f["path"])): (int(f["size"]), str(f["sha256"]))
                  for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"{path}: {MANIFEST} is malformed: {exc}") from exc
    if manifest.get("format") != BUNDLE_FORMAT:
        raise EvidenceError(f"{path}: not a {BUNDLE_FORMAT} bundle")
    missing = tuple(sorted(p for p in listed if p not in files))
    changed = tuple(sorted(
        p for p, (size, digest) in listed.items()
        if p in files and (len(files[p]) != size or sha256(files[p]) != digest)))
    extra = tuple(sorted(p for p in files if p not in listed))
    return VerifyResult(len(listed), sha256(raw), missing, changed, extra, manifest)


def unpack(data: bytes, directory: Path) -> list[Path]:
    """Write a bundle's zip into `directory` (created; must be empty if it exists)."""
    try:
        if directory.exists() and any(directory.iterdir()):
            raise EvidenceError(f"{directory} is not empty")
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            written = []
            for info in archive.infolist():
                if info.is_dir():
                    continue
                target = directory / _safe_name(info.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
                written.append(target)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EvidenceError(f"cannot unpack the bundle into {directory}: {exc}") from exc
    return written
