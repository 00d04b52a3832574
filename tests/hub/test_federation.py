"""Federation end to end: two hubs in one process, each with its own data dir and API on a
loopback port. The partner hub (a campus) watches simulated cameras and grants the police
hub two of its three; the police hub is configured from a TOML file with [[partners]]."""

from __future__ import annotations

import asyncio
import io
import logging
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from PIL import Image

from hub.auth import Role, TokenStore
from hub.config import PartnerConfig, load_config
from hub.core import Hub
from hub.errors import CameraNotSupported
from hub.federation import UNREACHABLE_DETAIL, PartnerLink
from hub.health_thresholds import HealthPolicy, HealthThresholds
from hub.local_client import LocalHubClient
from hub.model import CameraConfig, CameraKind, CameraStatus, HealthState, Site
from hub.supervisor import SupervisorTiming
from simulator.model import CameraFault
from simulator.onvif_camera import SimulatedCamera
from simulator.onvif_snapshot import snapshot_size
from tests.conftest import StartCamera, make_spec
from tests.hub.served_hub import ServedHub

FAST = SupervisorTiming(poll_interval_s=0.2, backoff_steps_s=(0.1, 0.3), jitter=0.0,
                        call_timeout_s=2.0)
QUICK = HealthPolicy(HealthThresholds(down_after_s=0.5, ok_after_s=0.5))
CAMPUS = ["uh-1", "uh-2", "uh-3"]
GRANTED = ["uh-1", "uh-2"]
TOKEN_NAME = "police"
# Issue 9: revoking a grant hides the camera within 2 s.
REVOKE_LIMIT_S = 2.0

POLICE_TOML = """\
[[sites]]
id = "police"
name = "Politie Limburg"

[[cameras]]
id = "pol-1"
name = "Kazerne poort"
site = "police"
onvif = "{onvif}"
username = "{username}"
password_env = "CW_FED_CAM_PASSWORD"

[[partners]]
id = "uhasselt"
name = "UHasselt campus"
url = "http://127.0.0.1:{port}"
token_env = "CW_FED_PARTNER_TOKEN"
"""


def config_for(camera: SimulatedCamera, site: str) -> CameraConfig:
    spec = camera.spec
    return CameraConfig(id=spec.id, name=f"Campus {spec.id}", site=site, kind=CameraKind.FIXED,
                        onvif_url=camera.onvif_url, username=spec.username,
                        password=spec.password)


@dataclass(kw_only=True)
class Partner(ServedHub):
    """The campus hub and its API, restartable on the same port and data dir."""

    cameras: dict[str, SimulatedCamera]

    async def start(self) -> None:
        configs = [config_for(c, "campus") for c in self.cameras.values()]
        await self.serve(await Hub.open([Site("campus", "Campus")], configs, self.data_dir,
                                        FAST, stream_health=False, health=QUICK))

    async def stop(self) -> None:
        await self.stop_serving()


@dataclass
class Federation:
    partner: Partner
    police: Hub
    tokens: TokenStore
    token: str


@pytest.fixture
async def fed(tmp_path: Path, start_camera: StartCamera,
              monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Federation]:
    campus = {cam_id: await start_camera(make_spec(cam_id)) for cam_id in CAMPUS}
    campus["uh-2"].event_service = True  # motion, tamper, ... over ONVIF PullPoint
    own = await start_camera(make_spec("pol-1"))
    partner = Partner(data_dir=tmp_path / "campus", cameras=campus)
    tokens = TokenStore(partner.data_dir)
    token = tokens.create(TOKEN_NAME, Role.PARTNER, cameras=GRANTED)
    await partner.start()

    monkeypatch.setenv("CW_FED_CAM_PASSWORD", own.spec.password)
    monkeypatch.setenv("CW_FED_PARTNER_TOKEN", token)
    config_file = tmp_path / "police.toml"
    config_file.write_text(POLICE_TOML.format(onvif=own.onvif_url, username=own.spec.username,
                                              port=partner.port))
    config = load_config(config_file)
    police = await Hub.open(list(config.sites), list(config.cameras), tmp_path / "police",
                            FAST, stream_health=False, health=QUICK, partners=config.partners)
    await police.start()
    try:
        yield Federation(partner, police, tokens, token)
    finally:
        await police.stop()
        await partner.stop()


async def wait_for(hub: Hub, camera_id: str, pred: Callable[[CameraStatus | None], bool],
                   within_s: float = 10.0) -> CameraStatus | None:
    """The camera's status once `pred` holds (None: the camera is gone). Polled: what an
    operator sees is hub.camera(), whichever feed brought the change."""
    async with asyncio.timeout(within_s):
        while not pred(status := hub.camera(camera_id)):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    return status


def is_ok(status: CameraStatus | None) -> bool:
    return status is not None and status.state is HealthState.OK


async def test_the_police_hub_sees_exactly_the_granted_cameras_live(fed: Federation) -> None:
    police = fed.police
    for cam_id in GRANTED:
        await wait_for(police, f"uhasselt:{cam_id}", is_ok)
    await wait_for(police, "pol-1", is_ok)
    assert sorted(c.id for c in police.cameras()) == ["pol-1", "uhasselt:uh-1", "uhasselt:uh-2"]
    federated = police.camera("uhasselt:uh-1")
    assert federated is not None
    assert federated.config.site == "uhasselt" and federated.config.name == "Campus uh-1"
    # No address, no credentials: the partner never sends them, we never invent them.
    assert (federated.config.onvif_url, federated.config.username,
            federated.config.password) == ("", "", "")
    assert Site("uhasselt", "UHasselt campus") in LocalHubClient(police).sites()

    # Live: a fault at the campus shows on the police hub.
    changes = LocalHubClient(police).changes()
    await fed.partner.cameras["uh-1"].set_fault(CameraFault.OFFLINE, True)
    async with asyncio.timeout(10):
        async for status in changes:
            if status.id == "uhasselt:uh-1" and status.state is HealthState.DOWN:
                break
    await fed.partner.cameras["uh-1"].set_fault(CameraFault.OFFLINE, False)
    await wait_for(police, "uhasselt:uh-1", is_ok)
    history = await LocalHubClient(police).history("uhasselt:uh-1")
    assert [t.new_state for t in history[:2]] == [HealthState.OK, HealthState.DOWN]
    assert {t.camera_id for t in history} == {"uhasselt:uh-1"}


async def test_partner_cameras_are_read_only_but_give_snapshots(fed: Federation) -> None:
    police = fed.police
    client = LocalHubClient(police)
    await wait_for(police, "uhasselt:uh-2", is_ok)
    jpeg = await client.camera_snapshot("uhasselt:uh-2")
    main = fed.partner.cameras["uh-2"].spec.profiles[0]
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == snapshot_size(main.width, main.height)
    for action in (client.ptz_move("uhasselt:uh-2", pan=0.5),
                   client.ptz_status("uhasselt:uh-2"),
                   client.reboot_camera("uhasselt:uh-2", "tech"),
                   client.diagnose_camera("uhasselt:uh-2"),
                   client.clear_maintenance("uhasselt:uh-2", "tech")):
        with pytest.raises(CameraNotSupported, match=r"uhasselt:uh-2 is a partner camera"):
            await action


async def test_live_events_of_a_partner_camera_come_through_the_partner(
    fed: Federation,
) -> None:
    await wait_for(fed.police, "uhasselt:uh-2", is_ok)
    events = LocalHubClient(fed.police).camera_events("uhasselt:uh-2")
    seen = []
    try:
        async with asyncio.timeout(10):
            async for event in events:
                seen.append(event)
                if len(seen) == 2:
                    break
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    # A PullPoint subscription starts with an Initialized message per property.
    assert all(e.operation == "Initialized" and e.topic.startswith("tns1:") for e in seen)
    # Closing our iterator ends the partner's subscription at its camera.
    camera = fed.partner.cameras["uh-2"]
    async with asyncio.timeout(5):
        while camera.events.subscriptions:  # noqa: ASYNC110 (the simulator has no event)
            await asyncio.sleep(0.05)
    with pytest.raises(CameraNotSupported, match="not supported"):
        async for _ in LocalHubClient(fed.police).camera_events("uhasselt:uh-1"):
            pass


async def test_a_revoked_grant_hides_the_camera_within_2_s(fed: Federation) -> None:
    police = fed.police
    await wait_for(police, "uhasselt:uh-2", is_ok)
    removals = LocalHubClient(police).camera_removals()
    started = time.monotonic()
    fed.tokens.ungrant(TOKEN_NAME, ["uh-2"])
    await wait_for(police, "uhasselt:uh-2", lambda s: s is None, within_s=5.0)
    took = time.monotonic() - started
    print(f"revoked grant gone from the police hub in {took * 1000:.0f} ms")
    assert took <= REVOKE_LIMIT_S
    async with asyncio.timeout(1):
        assert await anext(removals) == "uhasselt:uh-2"
    assert sorted(c.id for c in police.cameras()) == ["pol-1", "uhasselt:uh-1"]

    # Granted again: it comes back without a restart.
    fed.tokens.grant(TOKEN_NAME, ["uh-3"])
    await wait_for(police, "uhasselt:uh-3", lambda s: s is not None, within_s=5.0)


async def test_an_unreachable_partner_shows_unknown_until_it_returns(
    fed: Federation, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    police = fed.police
    await wait_for(police, "uhasselt:uh-1", is_ok)
    await fed.partner.stop()
    cut = await wait_for(police, "uhasselt:uh-1",
                         lambda s: s is not None and s.detail == UNREACHABLE_DETAIL)
    assert cut is not None and cut.state is HealthState.UNKNOWN
    assert sorted(c.id for c in police.cameras()) == ["pol-1", "uhasselt:uh-1", "uhasselt:uh-2"]
    await fed.partner.start()  # same port, same data dir: a restarted partner hub
    back = await wait_for(police, "uhasselt:uh-1", is_ok, within_s=15.0)
    assert back is not None and back.detail != UNREACHABLE_DETAIL
    assert fed.token not in caplog.text


async def test_a_partner_over_https_with_its_own_ca(
    tmp_path: Path, start_camera: StartCamera
) -> None:
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(tls)
    ca.cert_pem.write_to_path(str(tmp_path / "campus-ca.pem"))
    partner = Partner(data_dir=tmp_path / "campus",
                      cameras={"uh-1": await start_camera(make_spec("uh-1"))},
                      tls=tls)
    token = TokenStore(partner.data_dir).create(TOKEN_NAME, Role.PARTNER, cameras=["uh-1"])
    await partner.start()
    config_file = tmp_path / "police.toml"
    config_file.write_text(
        '[[sites]]\nid = "police"\n\n[[partners]]\nid = "uhasselt"\n'
        f'url = "https://127.0.0.1:{partner.port}"\ntoken = "{token}"\n'
        'ca_file = "campus-ca.pem"\n')
    config = load_config(config_file)
    police = await Hub.open(list(config.sites), [], tmp_path / "police",
                            partners=config.partners)
    await police.start()
    try:
        await wait_for(police, "uhasselt:uh-1", is_ok)
        assert [c.id for c in police.cameras()] == ["uhasselt:uh-1"]
    finally:
        await police.stop()
        await partner.stop()


# The link's connection states, without a network: the stream's listener is called as
# hub.event_stream_client calls it.


def link_with(camera: CameraStatus, shown: list[CameraStatus]) -> PartnerLink:
    partner = PartnerConfig(id="uhasselt", name="UHasselt", url="http://127.0.0.1:9",
                            token="t")
    link = PartnerLink(partner, shown.append, lambda _: None)
    link._show(camera)
    return link


async def test_a_short_drop_shows_nothing_and_a_long_one_unknown_then_the_last_states(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hub.federation.UNREACHABLE_AFTER_S", 0.05)
    ok = CameraStatus(config=config_for_id("uhasselt:uh-1"), state=HealthState.OK)
    shown: list[CameraStatus] = []
    link = link_with(ok, shown)
    link._connection(False, "connection refused")
    link._connection(True, None)  # back before UNREACHABLE_AFTER_S: no flicker
    await asyncio.sleep(0.1)
    assert [s.state for s in shown] == [HealthState.OK]
    link._connection(False, "connection refused")
    await asyncio.sleep(0.1)
    assert (shown[-1].state, shown[-1].detail) == (HealthState.UNKNOWN, UNREACHABLE_DETAIL)
    link._connection(True, None)  # a resumed stream: the last states, then its changes
    await asyncio.sleep(0)
    assert shown[-1] == ok and link.camera("uhasselt:uh-1") == ok


async def test_a_stream_that_could_not_resume_shows_the_re_read_not_stale_states(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hub.federation.UNREACHABLE_AFTER_S", 0.05)
    ok = CameraStatus(config=config_for_id("uhasselt:uh-1"), state=HealthState.OK)
    shown: list[CameraStatus] = []
    link = link_with(ok, shown)
    link._connection(False, "connection refused")
    await asyncio.sleep(0.1)
    link._connection(True, None)
    link._reconnected(fresh=True)  # what a "reset" does before it re-reads the list
    await asyncio.sleep(0.05)
    assert [s.state for s in shown] == [HealthState.OK, HealthState.UNKNOWN]


def config_for_id(camera_id: str) -> CameraConfig:
    return CameraConfig(id=camera_id, name="Campus", site="uhasselt", kind=CameraKind.FIXED,
                        onvif_url="", username="", password="")
