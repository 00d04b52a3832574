"""RemoteHubClient against a real hub watching the small simulated city through its API:
the same cameras and states as the local client, a camera fault (switched through the
city's control API) on the remote change stream, alerts and their transitions, and a hub
restart on the same port and data directory that the client survives, and the full
camera facts read from the detail route once per camera (and again after a reset)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from hub.alpr_config import AlprConfig, HotlistFile
from hub.alpr_model import AlertState
from hub.api_session import ApiSession
from hub.auth import Role, TokenStore
from hub.core import Hub
from hub.endpoints_config import config_from_endpoints
from hub.errors import AlertTransitionError, ApiAuthError, ApiForbidden, HubUnreachable
from hub.local_client import LocalHubClient
from hub.model import CameraStatus, HealthState
from hub.remote_client import ConnectionState, RemoteHubClient, _all_or_none
from hub.supervisor import SupervisorTiming
from simulator.city import SimulatedCity
from simulator.scenario import load_scenario
from tests.hub.served_hub import ServedHub

T = TypeVar("T")

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.toml"
TOKEN = "remote-t0ken-for-tests"
FAST = SupervisorTiming(poll_interval_s=0.3, backoff_steps_s=(0.2, 0.5), jitter=0.0,
                        call_timeout_s=2.0)
RECONNECT = (0.1, 0.3)  # the client's reconnect delays in these tests
HOTLIST_CSV = "plate,list,category,priority\n1-ABC-234,stolen,vehicle,80\n"
OFFLINE_FROM_START = "centre-002"  # small.toml


@dataclass(kw_only=True)
class RemoteWorld(ServedHub):
    """A simulated city, a hub on it, the hub's API on a loopback port."""

    city: SimulatedCity
    hotlist: Path
    technician_token: str = ""
    clients: list[RemoteHubClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def local(self) -> LocalHubClient:
        assert self.hub is not None
        return LocalHubClient(self.hub)

    async def start_hub(self) -> None:
        config = config_from_endpoints(self.city.endpoints(), "simulator")
        alpr = AlprConfig(hotlists=(HotlistFile(self.hotlist, "national"),))
        await self.serve(await Hub.open(list(config.sites), list(config.cameras),
                                        self.data_dir, FAST, config.vehicles,
                                        stream_health=False, alpr=alpr), bootstrap=TOKEN)

    async def stop_hub(self) -> None:
        await self.stop_serving()

    async def client(self, token: str = TOKEN) -> RemoteHubClient:
        remote = RemoteHubClient(self.url, token, reconnect_delays_s=RECONNECT)
        await remote.connect()
        self.clients.append(remote)
        return remote

    async def fault(self, camera: str, fault: str, on: bool) -> None:
        """Switch a fault through the city's control API, as a tester does."""
        body = json.dumps({"camera": camera, "fault": fault, "on": on})
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.city.control_url}/faults", data=body) as response:
            assert response.status == 200, await response.text()

    async def post_read(self, plate: str) -> dict[str, Any]:
        read = {"plate": plate, "time": datetime.now(UTC).isoformat(), "camera": "centre-001",
                "confidence": 0.9, "country": "BE"}
        async with ApiSession(self.url, TOKEN) as api:
            answer: dict[str, Any] = await api.post_json("/api/reads", read)
            return answer


@pytest.fixture
async def world(tmp_path: Path, video_cache: Path) -> AsyncIterator[RemoteWorld]:
    # Starting now: the cameras' clocks agree with ours, as a healthy city's do.
    scenario = dataclasses.replace(load_scenario(SMALL), start=datetime.now(UTC))
    city = SimulatedCity(scenario, video_cache_dir=video_cache, prewarm=False)
    await city.start()
    hotlist = tmp_path / "national.csv"
    hotlist.write_text(HOTLIST_CSV)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    result = RemoteWorld(city=city, data_dir=data_dir, hotlist=hotlist)
    result.technician_token = TokenStore(data_dir).create("tech-jan", Role.TECHNICIAN)
    try:
        await result.start_hub()
        yield result
    finally:
        for remote in result.clients:
            await remote.close()
        await result.stop_hub()
        await city.stop()


async def eventually(probe: Callable[[], T | None], within_s: float = 10.0) -> T:
    """The first truthy answer of `probe`, polled."""
    async with asyncio.timeout(within_s):
        while not (answer := probe()):  # noqa: ASYNC110 (state of another task, no event)
            await asyncio.sleep(0.05)
    return answer


def settled(cameras: list[CameraStatus]) -> bool:
    """Every camera judged, the offline one down."""
    states = {c.id: c.state for c in cameras}
    return HealthState.UNKNOWN not in states.values() and \
        states.get(OFFLINE_FROM_START) is HealthState.DOWN


def summary(cameras: list[CameraStatus]) -> list[tuple[str, str, str, str, str, str]]:
    return sorted((c.id, c.config.name, c.config.site, c.state.value, c.shown_state.value,
                   c.reason.value) for c in cameras)


async def next_matching(changes: AsyncIterator[T], pred: Callable[[T], bool],
                        within_s: float = 10.0) -> T:
    async with asyncio.timeout(within_s):
        async for item in changes:
            if pred(item):
                return item
    raise AssertionError("the change stream ended")


async def test_remote_lists_the_same_cameras_and_states_as_local(world: RemoteWorld) -> None:
    await eventually(lambda: settled(world.local.cameras()))
    remote = await world.client()
    assert remote.connected
    assert remote.sites() == world.local.sites()
    await eventually(lambda: summary(remote.cameras()) == summary(world.local.cameras()))
    assert len(remote.cameras()) == 6
    camera = remote.camera("centre-001")
    assert camera is not None and camera.state is HealthState.OK
    assert camera.config.password == "" and camera.config.username == ""  # never sent
    assert [h.name for h in remote.hotlists()] == [h.name for h in world.local.hotlists()]
    history = await remote.history(OFFLINE_FROM_START)
    assert history and history[0].new_state is HealthState.DOWN
    assert await remote.history("no-such-camera") == []


async def test_a_camera_fault_reaches_the_remote_changes(world: RemoteWorld) -> None:
    await eventually(lambda: settled(world.local.cameras()))
    remote = await world.client()
    changes = remote.changes()
    await world.fault("centre-001", "offline", True)
    down = await next_matching(changes, lambda s: s.id == "centre-001"
                               and s.state is HealthState.DOWN)
    assert down.reason.value == "unreachable"
    found = remote.camera("centre-001")
    assert found is not None and found.state is HealthState.DOWN  # the cache follows
    await world.fault("centre-001", "offline", False)
    await next_matching(changes, lambda s: s.id == "centre-001" and s.state is HealthState.OK)


async def test_alerts_and_transitions_over_the_remote_client(world: RemoteWorld) -> None:
    assert world.hub is not None
    await asyncio.wait_for(world.hub.plates._hotlists_ready.wait(), 10)
    remote = await world.client()
    changes = remote.alert_changes()
    answer = await world.post_read("1ABC234")
    [alert_id] = answer["reads"][0]["alerts"]
    raised = await next_matching(changes, lambda a: a.id == alert_id, within_s=5)
    assert raised.state is AlertState.NEW and raised.hit.entry.list == "stolen"
    assert [a.id for a in await remote.alerts()] == [alert_id]

    acknowledged = await remote.transition_alert(alert_id, AlertState.ACKNOWLEDGED, "ann")
    assert acknowledged.state is AlertState.ACKNOWLEDGED and acknowledged.actor.endswith("ann")
    with pytest.raises(AlertTransitionError, match="reason"):
        await remote.transition_alert(alert_id, AlertState.REJECTED, "ann")
    stored = await world.local.alerts(open_only=False)
    assert [(a.id, a.state) for a in stored] == [(alert_id, AlertState.ACKNOWLEDGED)]

    reads = await remote.search_reads("1ABC*")
    assert [r.plate for r in reads] == ["1ABC234"]


async def test_a_technician_sees_cameras_but_not_alerts(world: RemoteWorld) -> None:
    remote = await world.client(world.technician_token)
    assert len(remote.cameras()) == 6
    with pytest.raises(ApiForbidden):
        await remote.alerts()
    assert remote.hotlists() == []  # an operator's business


async def test_a_wrong_token_or_no_hub_fails_connect_clearly(world: RemoteWorld) -> None:
    with pytest.raises(ApiAuthError, match="refused the token") as refused:
        await RemoteHubClient(world.url, "not-the-token").connect()
    assert "not-the-token" not in str(refused.value)
    url = world.url
    await world.stop_hub()
    with pytest.raises(HubUnreachable) as unreachable:
        await RemoteHubClient(url, TOKEN).connect()
    assert url in str(unreachable.value) and TOKEN not in str(unreachable.value)


async def test_the_client_survives_a_hub_restart(world: RemoteWorld) -> None:
    await eventually(lambda: settled(world.local.cameras()))
    remote = await world.client()
    links: list[ConnectionState] = []

    async def watch() -> None:
        async for state in remote.connection_changes():
            links.append(state)

    watcher = asyncio.create_task(watch())
    changes = remote.changes()
    resets = remote.resets
    port = world.port
    try:
        await world.stop_hub()
        await eventually(lambda: not remote.connected, within_s=5)
        await eventually(lambda: links and not links[-1].connected, within_s=2)
        assert "unreachable" in (links[-1].error or "") or "closed" in (links[-1].error or "")
        await world.fault("centre-001", "offline", True)  # happens while the hub is away

        await world.start_hub()
        assert world.port == port
        await eventually(lambda: remote.connected, within_s=5)
        await eventually(lambda: remote.resets > resets, within_s=5)  # resumed=false
        assert links[-1].connected
        # The new hub finds centre-001 down: the client hears it although it was away.
        down = await next_matching(changes, lambda s: s.id == "centre-001"
                                   and s.state is HealthState.DOWN, within_s=15)
        assert down.reason.value == "unreachable"
        assert len(remote.cameras()) == 6
    finally:
        watcher.cancel()


async def test_camera_fills_in_the_full_facts_once_and_again_after_a_restart(
    world: RemoteWorld,
) -> None:
    await eventually(lambda: settled(world.local.cameras()))
    remote = await world.client()  # the bootstrap token: admin, may put in maintenance
    detail_reads: list[str] = []
    get_json = remote._api.get_json

    async def counting(path: str, *args: Any, **kwargs: Any) -> Any:
        if path == "/api/cameras/centre-001":
            detail_reads.append(path)
        return await get_json(path, *args, **kwargs)

    remote._api.get_json = counting  # type: ignore[method-assign]
    local = world.local.camera("centre-001")
    assert local is not None and local.facts is not None and local.facts.firmware
    changes = remote.changes()

    first = remote.camera("centre-001")  # sync: the list shape, at once
    assert first is not None and first.facts is not None
    assert (first.facts.model, first.facts.firmware) == (local.facts.model, "")
    full = await next_matching(changes, lambda s: s.id == "centre-001"
                               and s.facts is not None and s.facts.firmware != "")
    assert full.facts == local.facts  # firmware, serial, profiles, URIs, services, offset
    assert full.state is HealthState.OK
    for _ in range(5):
        found = remote.camera("centre-001")
        assert found is not None and found.facts == local.facts
    await remote.history("centre-001")
    assert detail_reads == ["/api/cameras/centre-001"]  # once per camera
    assert remote.camera("no-such-camera") is None

    # Later changes come in the list shape: the full facts stay on them.
    until = datetime.now(UTC) + timedelta(hours=1)
    answered = await remote.set_maintenance("centre-001", until, "new lens", "jan")
    assert answered.maintenance is not None and answered.facts == local.facts
    event = await next_matching(changes, lambda s: s.id == "centre-001"
                                and s.maintenance is not None)
    assert event.facts == local.facts

    # A reset reads the state again: the facts of the cameras looked at are read again.
    resets = remote.resets
    await world.stop_hub()
    await world.start_hub()
    await eventually(lambda: remote.resets > resets, within_s=10)
    await eventually(lambda: len(detail_reads) == 2, within_s=5)  # without being asked

    def refilled() -> bool:  # the new hub may not have reached the camera at first
        again, now = remote.camera("centre-001"), world.local.camera("centre-001")
        return again is not None and now is not None and now.facts is not None \
            and again.facts == now.facts  # the new hub's: its clock offset is new

    await eventually(refilled, within_s=10)


async def test_state_requests_run_together_and_a_failure_cancels_the_rest() -> None:
    started: list[str] = []
    cancelled: list[str] = []

    async def answer(name: str, delay: float, fail: bool = False) -> str:
        started.append(name)
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        if fail:
            raise HubUnreachable(f"{name} failed")
        return name

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await _all_or_none(answer("a", 0.2), answer("b", 0.1)) == ["a", "b"]
    assert loop.time() - t0 < 0.3  # together: not 0.2 + 0.1 one after the other
    with pytest.raises(HubUnreachable, match="b failed"):
        await _all_or_none(answer("slow", 5.0), answer("b", 0.01, fail=True))
    assert cancelled == ["slow"]  # not left running once the reset has failed
