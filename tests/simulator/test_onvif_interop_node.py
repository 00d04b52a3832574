"""An independent ONVIF client (Node's `onvif`, agsh/onvif) talks to every simulated camera.

tests/interop/onvif_probe.js connects as that client does (GetSystemDateAndTime, GetServices,
GetProfiles, GetVideoSources), then reads device information, capabilities, stream and
snapshot URIs (fetching each JPEG with the camera's HTTP auth), moves PTZ domes and pulls an
event from a PullPoint subscription; it prints one JSON object. Every value must equal what
the simulator holds. A second city has one camera per vendor quirk: the client copes with
each as it does with such real firmware (what it cannot do is spelled out in QUIRKS).
Skipped without node or `make test`'s `npm ci` of tests/interop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simulator.city import SimulatedCity
from simulator.model import CameraQuirk
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_snapshot import snapshot_size
from simulator.scenario import load_scenario
from simulator.vendors import VENDOR_PROFILES

ROOT = Path(__file__).resolve().parents[2]
INTEROP = ROOT / "tests" / "interop"
PROBE = INTEROP / "onvif_probe.js"
NODE = shutil.which("node")
pytestmark = [
    pytest.mark.skipif(NODE is None, reason="node is not installed (.ci/run installs nodejs)"),
    pytest.mark.skipif(
        not (INTEROP / "node_modules" / "onvif").is_dir(),
        reason="tests/interop/node_modules is missing: run `make test` or "
        "`npm ci --prefix tests/interop`",
    ),
]

# One probe drives a dome for a few seconds (moves settle on the virtual clock); 30 s is
# ample on a busy box.
PROBE_TIMEOUT_S = 30.0
# Node processes at once: the box has two cores and the simulator shares them.
PARALLEL_PROBES = 4
# The client reads the camera clock to the second; the probe runs a few seconds.
CLOCK_SLACK_S = 3.0
# Position agreement between the client's view and the simulator's (6 decimals on the wire).
POSITION_EPS = 0.02
PTZ_PATH_STEPS = ("absoluteMove", "relativeMove", "gotoPreset")
PLATE_SUFFIX = "RuleEngine/Recognition/LicensePlate"
# Plates the lib's own event loop (pull, renew, pull ...) must deliver one after another.
LOOP_EVENTS = 2

# Every vendor of simulator/vendors.py once: domes (one continuous-only), fixed cameras, one
# camera an hour off (the client must log in with its time shift), main + sub or one profile.
SCENARIO = """
[scenario]
name = "ONVIF interop"
seed = 11
start = 2026-03-02T08:00:00Z
duration = "10m"
# Domes move five times faster than real time; a token window stays real seconds.
speed = 5.0
bounds = { lat = [50.90, 50.96], lon = [5.30, 5.38] }

[[sites]]
id = "city"
name = "Stad Hasselt"
kind = "city"
"""
GROUPS = (
    # (vendor, ptz, stream width, height, clock offset)
    ("hikvision", "true", 1280, 720, 0),
    ("dahua", '"continuous"', 640, 360, 0),
    ("axis", "false", 1280, 720, 0),
    ("hanwha", "false", 640, 360, 0),
    ("bosch", "true", 640, 360, 0),
    ("uniview", "false", 1280, 720, 0),
    ("vivotek", "false", 640, 360, 3600),
)


def scenario_text() -> str:
    parts = [SCENARIO]
    for vendor, ptz, width, height, offset in GROUPS:
        parts.append(
            f'[[camera_groups]]\nid = "{vendor}"\nsite = "city"\nkind = "fixed"\ncount = 1\n'
            f'vendor = "{vendor}"\nstreets = ["Grote Markt"]\nptz = {ptz}\n'
            f"stream = {{ width = {width}, height = {height}, fps = 15 }}\n"
            f'username = "{vendor}-admin"\npassword = "P&ss<{vendor}>"\n'
            f"clock_offset_s = {offset}\n"
        )
    return "\n".join(parts)


@pytest.fixture
async def interop_city(tmp_path: Path, video_cache: Path) -> AsyncIterator[SimulatedCity]:
    path = tmp_path / "interop.toml"
    path.write_text(scenario_text())
    city = SimulatedCity(load_scenario(path), video_cache_dir=video_cache, prewarm=False)
    for cam in city.cameras.values():
        cam.event_service = True  # before start: GetServices advertises it
    await city.start()
    try:
        yield city
    finally:
        await city.stop()


def plate_for(cam: SimulatedCamera) -> str:
    return "1-" + cam.spec.vendor.manufacturer[:3].upper() + "-042"


async def run_probe(
    cam: SimulatedCamera, *options: str
) -> tuple[dict[str, Any], datetime, datetime]:
    """Run the probe against `cam`; publish a plate once it has subscribed. Returns its JSON
    and the camera clock when it started and ended. `options`: more probe arguments."""
    assert NODE is not None
    env = dict(os.environ, ONVIF_PASSWORD=cam.spec.password)
    began = cam.camera_now()
    proc = await asyncio.create_subprocess_exec(
        NODE, str(PROBE), "--url", cam.onvif_url, "--user", cam.spec.username,
        "--ptz", "--events", "--want-topic", PLATE_SUFFIX, "--timeout-ms", "10000", *options,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr: list[str] = []

    async def follow() -> None:
        assert proc.stderr is not None
        while line := (await proc.stderr.readline()).decode():
            stderr.append(line.rstrip())
            word = line.strip()
            if word == "probe: subscribed":
                cam.publish_plate(plate_for(cam), country="BE", likelihood=0.87,
                                  issuing_entity="VLG")
            elif word == "probe: listening" or (
                word.startswith("probe: event ") and int(word.split()[-1]) < LOOP_EVENTS
            ):  # the lib's own loop: one plate per pull, renewing in between
                n = 1 if word == "probe: listening" else int(word.split()[-1]) + 1
                cam.publish_plate(f"{plate_for(cam)}-{n}", country="BE")

    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            out, _ = await asyncio.gather(proc.stdout.read(), follow())
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()
    assert proc.returncode == 0, f"{cam.spec.id}: probe failed: {stderr}"
    assert cam.spec.password not in out.decode() + "\n".join(stderr)
    return json.loads(out), began, cam.camera_now()


def same(got: Any, expected: str) -> bool:
    """The client turns numeric-looking text into numbers ("1.00" -> 1): compare as such."""
    if isinstance(got, int | float) and not isinstance(got, bool):
        return float(expected) == got
    return bool(got == expected)


def near(a: dict[str, float], b: tuple[float, float, float] | dict[str, float]) -> bool:
    bx = (b["x"], b["y"], b["zoom"]) if isinstance(b, dict) else b
    return all(abs(u - v) <= POSITION_EPS for u, v in zip((a["x"], a["y"], a["zoom"]), bx,
                                                           strict=True))


def utc(text: str) -> datetime:
    """A time the client reported; without a zone (NAIVE_TIME cameras) it means UTC."""
    t = datetime.fromisoformat(text)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def check_errors(cam: SimulatedCamera, out: dict[str, Any], failing: frozenset[str]) -> None:
    """Exactly the `failing` steps failed (plus, on a continuous-only dome, the moves it
    does not have: ONVIF lets a node without those spaces fault them)."""
    failed = {e["step"] for e in out["errors"]}
    if cam.ptz and cam.ptz_state.continuous_only:
        assert {"absoluteMove", "relativeMove"} <= failed, cam.spec.id
        failed -= set(PTZ_PATH_STEPS)
    assert failed == failing, f"{cam.spec.id}: {out['errors']}"


def check_device(cam: SimulatedCamera, out: dict[str, Any], began: datetime,
                 ended: datetime) -> None:
    name = cam.spec.id
    assert out["connected"], f"{name}: {out['errors']}"
    assert out["warnings"] == [], name
    info, v = out["deviceInformation"], cam.spec.vendor
    assert info["manufacturer"] == v.manufacturer, name
    assert info["model"] == v.model, name
    assert same(info["firmwareVersion"], v.firmware), name
    assert same(info["serialNumber"], cam.serial), name
    assert same(info["hardwareId"], v.hardware_id), name
    when = utc(out["dateTime"])
    slack = timedelta(seconds=CLOCK_SLACK_S)
    assert began - slack <= when <= ended + slack, f"{name}: {when} not in [{began}, {ended}]"
    services = {s["namespace"]: s["xaddr"] for s in out["services"]}
    assert services["http://www.onvif.org/ver10/device/wsdl"] == cam.advertise(cam.onvif_url)
    assert services["http://www.onvif.org/ver10/media/wsdl"] == cam.advertise(cam.media_url)
    assert services["http://www.onvif.org/ver10/events/wsdl"] == cam.advertise(cam.events_url)
    assert ("http://www.onvif.org/ver20/ptz/wsdl" in services) == cam.ptz, name
    caps = out["capabilities"]
    if CameraQuirk.GETCAPABILITIES_FAILS in cam.quirks:
        assert caps is None, name
        return
    assert caps["xaddrs"]["device"] == cam.advertise(cam.onvif_url)
    assert caps["xaddrs"]["media"] == cam.advertise(cam.media_url)
    assert caps["xaddrs"]["events"] == cam.advertise(cam.events_url)
    assert caps["xaddrs"].get("PTZ") == (cam.advertise(cam.ptz_url) if cam.ptz else None)
    assert caps["pullPoint"] is (CameraQuirk.NO_PULLPOINT not in cam.quirks), name


def check_media(cam: SimulatedCamera, out: dict[str, Any]) -> None:
    name = cam.spec.id
    got = out["profiles"]
    assert [p["token"] for p in got] == [p.token for p in cam.spec.profiles], name
    for p, spec in zip(got, cam.spec.profiles, strict=True):
        assert (p["name"], p["encoding"]) == (spec.name, spec.encoding), name
        assert (p["width"], p["height"], p["fps"]) == (spec.width, spec.height, spec.fps), name
        assert p["streamUri"] == cam.advertise(cam.stream_uri_for(spec.token)), name
        assert p["snapshotUri"] == cam.advertise(cam.snapshot_url_for(spec.token)), name
        assert p["ptz"] == cam.ptz, name
        snap = p["snapshot"]
        if CameraQuirk.SNAPSHOT_STALL in cam.quirks:
            assert snap is None, name  # headers, then no body: the client times out
            continue
        assert (snap["status"], snap["contentType"]) == (200, "image/jpeg"), name
        assert (snap["magic"], snap["jpegEnd"]) == ("FFD8", "FFD9"), name
        assert snap["bytes"] > 1000, name
        w, h = snapshot_size(spec.width, spec.height)
        assert snap["size"] == {"width": w, "height": h}, name


def check_ptz(cam: SimulatedCamera, out: dict[str, Any]) -> None:
    name = cam.spec.id
    ptz = out["ptz"]
    if not cam.ptz:
        assert ptz is None, name
        return
    assert ptz["configurations"][0]["token"] == out["activeSource"]["ptz"]
    spaces = {sp["name"] for sp in ptz["options"]["spaces"]}
    assert {"continuousPanTiltVelocitySpace", "continuousZoomVelocitySpace"} <= spaces, name
    assert ("absolutePanTiltPositionSpace" in spaces) != cam.ptz_state.continuous_only, name
    # ContinuousMove moved the dome, Stop stopped it: no drift afterwards.
    assert not near(ptz["moving"]["position"], ptz["before"]), name
    assert ptz["moving"]["moveStatus"]["panTilt"] == "MOVING", name
    assert ptz["stopped"]["moveStatus"] == {"panTilt": "IDLE", "zoom": "IDLE"}, name
    assert ptz["afterStop"] == ptz["stopped"]["position"], name
    assert ptz["stopped"]["position"]["x"] > ptz["before"]["x"], name
    presets = {p.token: p for p in cam.ptz_state.presets.values()}
    assert {p["token"]: p["name"] for p in ptz["presets"]} == {
        t: p.name for t, p in presets.items()}, name
    if not cam.ptz_state.continuous_only:
        assert near(ptz["absolute"]["reached"], ptz["absolute"]["target"]), name
        rel = ptz["relative"]
        want = {k: rel["start"][k] + rel["delta"][k] for k in ("x", "y", "zoom")}
        assert near(rel["reached"], want), name
        goto = ptz["gotoPreset"]
        assert near(goto["reached"], presets[goto["token"]].position), name
        assert near(goto["reached"], cam.ptz_state.position()), name


def check_events(cam: SimulatedCamera, out: dict[str, Any], began: datetime,
                 ended: datetime, *, plate: bool = True) -> None:
    name = cam.spec.id
    ev = out["events"]
    assert "ruleEngine" in ev["properties"]["topicSet"], name
    if not plate:
        assert ev["subscription"] is None and ev["messages"] == [], name
        return
    # The subscription address as advertised (a probe with --preserve-address rewrites it).
    assert ev["subscription"]["address"].startswith(
        (cam.advertise(cam.base_url) + "/", cam.base_url + "/")), name
    plates = [m for m in ev["messages"] if m["topic"].endswith(PLATE_SUFFIX)]
    assert len(plates) == 1, f"{name}: {ev['messages']}"
    msg = plates[0]
    info = msg["elements"]["LicensePlateInfo"]["licensePlateInfo"]
    assert info["plateNumber"]["_"] == plate_for(cam), name
    assert float(info["plateNumber"]["$"]["Likelihood"]) == pytest.approx(0.87)
    assert (info["countryCode"], info["issuingEntity"]) == ("BE", "VLG"), name
    assert msg["source"]["VideoSource"] == "VideoSource_1", name
    when = utc(msg["utcTime"])
    assert began <= when <= ended, f"{name}: event at {when}"
    assert ev["renew"] is not None and ev["unsubscribed"] is True, name
    loop = ev.get("loop")
    if loop is not None:  # the lib's loop: every plate once, in order, no errors
        assert loop["errors"] == [], name
        got = [m["elements"]["LicensePlateInfo"]["licensePlateInfo"]["plateNumber"]["_"]
               for m in loop["messages"] if m["topic"].endswith(PLATE_SUFFIX)]
        assert got == [f"{plate_for(cam)}-{n}" for n in range(1, LOOP_EVENTS + 1)], name


async def probe_all(
    cams: list[SimulatedCamera], options: dict[str, tuple[str, ...]] | None = None
) -> list[tuple[dict[str, Any], datetime, datetime]]:
    gate = asyncio.Semaphore(PARALLEL_PROBES)

    async def probe(cam: SimulatedCamera) -> tuple[dict[str, Any], datetime, datetime]:
        async with gate:
            return await run_probe(cam, *(options or {}).get(cam.spec.id, ()))

    return list(await asyncio.gather(*(probe(c) for c in cams)))


async def test_node_onvif_client_interoperates_with_every_camera(
    interop_city: SimulatedCity,
) -> None:
    cams = list(interop_city.cameras.values())
    vendors = {c.spec.vendor.manufacturer for c in cams}
    assert len(vendors) >= len(VENDOR_PROFILES)  # every vendor at least once
    assert any(c.ptz for c in cams) and any(not c.ptz for c in cams)
    loop = ("--loop-events", str(LOOP_EVENTS))
    results = await probe_all(cams, {c.spec.id: loop for c in cams})
    for cam, (out, began, ended) in zip(cams, results, strict=True):
        assert out["events"]["loop"] is not None, cam.spec.id
        check_errors(cam, out, frozenset())
        check_device(cam, out, began, ended)
        check_media(cam, out)
        check_ptz(cam, out)
        check_events(cam, out, began, ended)


# What this client does with each vendor quirk: (probe options, steps that fail, whether
# a plate event arrives). A quirk added to CameraQuirk must be given a line here.
QUIRKS: dict[CameraQuirk, tuple[tuple[str, ...], frozenset[str], bool]] = {
    # The lib parses only times with a "Z" into dates; its subscription bookkeeping then
    # calls Date#getTime on the text and gives up: the client's fragility, as with the
    # real firmware this quirk copies (device info, media, PTZ and date still work).
    CameraQuirk.NAIVE_TIME: ((), frozenset({"createPullPointSubscription"}), False),
    # The lib answers the 401 with Digest (and keeps its WS-Security header).
    CameraQuirk.DIGEST_ONLY: ((), frozenset(), True),
    # The lib's documented option for cameras behind NAT / naming a wrong port.
    CameraQuirk.NAT_XADDR: (("--preserve-address",), frozenset(), True),
    CameraQuirk.WRONG_PORT_XADDR: (("--preserve-address",), frozenset(), True),
    CameraQuirk.NO_PULLPOINT: ((), frozenset({"createPullPointSubscription"}), False),
    CameraQuirk.NO_WS_ADDRESSING: ((), frozenset(), True),
    # connect() falls back the other way round (GetServices first): only the explicit
    # GetCapabilities fails.
    CameraQuirk.GETCAPABILITIES_FAILS: ((), frozenset({"getCapabilities"}), True),
    CameraQuirk.H265_ONLY: ((), frozenset(), True),
    CameraQuirk.SNAPSHOT_STALL: (("--snapshot-timeout-ms", "1500"), frozenset({"snapshot"}),
                                 True),
}
# Quirky cameras that are domes too (PTZ with Digest-only SOAP, without WS-Addressing).
QUIRKY_DOMES = (CameraQuirk.DIGEST_ONLY, CameraQuirk.NO_WS_ADDRESSING)


def quirks_scenario_text() -> str:
    vendors = list(VENDOR_PROFILES)
    parts = [SCENARIO]
    for i, quirk in enumerate(CameraQuirk):
        vendor = vendors[i % len(vendors)]
        parts.append(
            f'[[camera_groups]]\nid = "{quirk.value.replace("_", "-")}"\nsite = "city"\n'
            f'kind = "fixed"\ncount = 1\nvendor = "{vendor}"\nstreets = ["Havermarkt"]\n'
            f"ptz = {'true' if quirk in QUIRKY_DOMES else 'false'}\n"
            "stream = { width = 640, height = 360, fps = 15 }\n"
            f'username = "admin"\npassword = "Quirk&<{i}>"\nquirks = ["{quirk.value}"]\n'
        )
    return "\n".join(parts)


async def test_node_onvif_client_with_every_vendor_quirk(
    tmp_path: Path, video_cache: Path
) -> None:
    assert set(QUIRKS) == set(CameraQuirk), "give every quirk its expectation"
    path = tmp_path / "quirks.toml"
    path.write_text(quirks_scenario_text())
    city = SimulatedCity(load_scenario(path), video_cache_dir=video_cache, prewarm=False)
    for cam in city.cameras.values():
        cam.event_service = True
    await city.start()
    try:
        cams = list(city.cameras.values())
        assert [next(iter(c.quirks)) for c in cams] == list(CameraQuirk)
        options = {c.spec.id: QUIRKS[next(iter(c.quirks))][0] for c in cams}
        results = await probe_all(cams, options)
    finally:
        await city.stop()
    for cam, (out, began, ended) in zip(cams, results, strict=True):
        _, failing, plate = QUIRKS[next(iter(cam.quirks))]
        check_errors(cam, out, failing)
        check_device(cam, out, began, ended)
        check_media(cam, out)
        check_ptz(cam, out)
        check_events(cam, out, began, ended, plate=plate)
