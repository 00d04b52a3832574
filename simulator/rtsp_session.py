"""A served stream, a client's RTSP session on it, and the RTP sender of a playing session.

The sender is one task per playing session: it stamps sequence numbers, timestamps and
SSRC into a copy of each pre-packetised frame and writes the frame, paced by the media
clock it is given (the virtual clock, or real time in a city: see SimulatedCity); the
sender reports' wall-clock times come from `wall`. A client that cannot keep up loses
frames up to the next keyframe (counted), the server never buffers without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from simulator.clock import VirtualClock
from simulator.model import StreamProfile
from simulator.rtp import RTP_CLOCK, RtpLoop, interleave, sender_report, stamp
from simulator.stream_faults import StreamFault, variant_for
from simulator.video import Variant, VideoKey

if TYPE_CHECKING:
    from simulator.rtsp_connection import Connection

log = logging.getLogger(__name__)

RTCP_INTERVAL_S = 5.0  # media-clock seconds between sender reports
# Frames written back to back before giving other tasks a turn (catching up after a
# pause must not starve the event loop).
MAX_FRAMES_WITHOUT_YIELD = 32
# A frame due within this many real seconds after one being sent goes out with it, in one
# write: 258 streams at 15 fps are ~3900 wake-ups and socket sends a second otherwise, a
# good part of the event loop's thread the hub and the TUI share in the demo. Frames are
# never sent late, at most this much early (as after network jitter), and a frame that
# is alone (low frame rates, fps_drop) goes out at its exact time. RTP timestamps are exact.
SEND_BATCH_S = 0.1


@dataclass
class Stream:
    """One served path ("camera-id/profile-token"); `faults` is kept up to date."""

    path: str
    camera_id: str
    profile: StreamProfile
    username: str
    password: str
    key: VideoKey
    faults: frozenset[StreamFault] = frozenset()


@dataclass(eq=False)
class Session:
    id: str
    conn: Connection
    stream: Stream
    channel: int
    ssrc: int
    seq: int
    ts_base: int
    last_activity: float = field(default_factory=time.monotonic)
    playing: bool = False
    task: asyncio.Task[None] | None = None
    packets: int = 0
    octets: int = 0


@dataclass(frozen=True)
class SendLimits:
    disconnect_after_s: float  # DISCONNECT fault: a new session is cut after this long
    write_buffer_limit: int  # unsent bytes above which frames are dropped to a keyframe


async def send_frames(s: Session, t0: float, *, clock: VirtualClock,
                      wall: Callable[[], float] | None = None,
                      variants: dict[Variant, RtpLoop], want: Callable[[Variant], None],
                      limits: SendLimits, stats: dict[str, int]) -> None:
    """Send frames on the virtual clock from scenario time `t0` until the session ends.

    `variants` may lack a fault's variant: `want` is asked for it and the current one is
    sent until it appears (the dict is filled in by the media store). Frames due close
    together go out in one write (SEND_BATCH_S).
    """
    stream, conn = s.stream, s.conn
    normal = variants[Variant.NORMAL]
    n_slots, gop = len(normal.slots), normal.gop
    transport = conn.transport
    assert transport is not None
    # Start at the latest keyframe slot of the stream's global timeline.
    index = int(t0 * normal.fps)
    index -= index % gop
    start_ticks = normal.ticks(index)
    ts_base, ssrc = s.ts_base, s.ssrc
    wallclock0 = clock.start.timestamp()
    current = Variant.NORMAL
    seen_key = False
    need_key = True
    next_sr = t0
    since_yield = 0
    batch: list[bytes | bytearray] = []
    pending = 0  # bytes in `batch`
    lookahead = SEND_BATCH_S * clock.speed  # in scenario seconds
    while s.playing and not conn.closed:
        ticks = normal.ticks(index) - start_ticks
        due = t0 + ticks / RTP_CLOCK
        now = clock.elapsed()
        if due > now and not (pending and due - now < lookahead):
            if batch:
                transport.writelines(batch)
                batch, pending = [], 0
            since_yield = 0
            await asyncio.sleep(clock.real_seconds(due - now))
            continue
        faults = stream.faults
        slot = index % n_slots
        index += 1
        if faults:
            if StreamFault.DISCONNECT in faults and now - t0 >= limits.disconnect_after_s:
                log.info("disconnecting a session on %s (fault)", stream.path)
                transport.writelines(batch)
                conn.close()
                return
            if StreamFault.STALL in faults:
                need_key = True
                next_sr = now
                continue
        wanted = variant_for(faults)
        if wanted is not current and slot % gop == 0:
            if wanted in variants:
                current = wanted
            else:
                want(wanted)
        frame = variants[current].slots[slot]
        if frame is None:
            continue
        if frame.keyframe:
            if seen_key and StreamFault.NO_KEYFRAMES in faults:
                continue
        elif need_key and not (seen_key and StreamFault.NO_KEYFRAMES in faults):
            continue
        if transport.get_write_buffer_size() + pending > limits.write_buffer_limit:
            stats["frames_dropped"] += 1
            need_key = True
            continue
        rtptime = ts_base + ticks
        if now >= next_sr:  # before the frame: clients map its timestamp at once
            next_sr = now + RTCP_INTERVAL_S
            ntp = wall() if wall is not None else wallclock0 + due
            report = sender_report(ssrc, ntp, rtptime, s.packets, s.octets,
                                   cname=f"{stream.camera_id}@citywatch")
            batch.append(interleave(s.channel + 1, report))
            stats["rtcp_sent"] += 1
        buf = bytearray(frame.blob)
        s.seq = stamp(buf, frame.header_offsets, s.seq, rtptime, ssrc, s.channel)
        batch.append(buf)
        pending += len(buf)
        need_key = False
        seen_key = seen_key or frame.keyframe
        s.packets += frame.packets
        s.octets += frame.payload_bytes
        stats["frames_sent"] += 1
        stats["packets_sent"] += frame.packets
        stats["bytes_sent"] += len(buf)
        since_yield += 1
        if since_yield >= MAX_FRAMES_WITHOUT_YIELD:
            transport.writelines(batch)
            batch, pending = [], 0
            since_yield = 0
            await asyncio.sleep(0)


async def play(s: Session, *, clock: VirtualClock, wall: Callable[[], float] | None = None,
               variants: dict[Variant, RtpLoop], want: Callable[[Variant], None],
               limits: SendLimits, stats: dict[str, int]) -> None:
    """The task of a playing session: send_frames from now; close the connection if the
    sender fails."""
    t0 = clock.elapsed()
    try:
        await send_frames(s, t0, clock=clock, wall=wall, variants=variants, want=want,
                          limits=limits, stats=stats)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("RTP sender for %s failed", s.stream.path)
        s.conn.close()
    finally:
        # A later PLAY (after PAUSE) continues the timestamps from here.
        elapsed = round((clock.elapsed() - t0) * RTP_CLOCK)
        s.ts_base = (s.ts_base + elapsed) & 0xFFFFFFFF


def stop_playing(session: Session) -> None:
    session.playing = False
    if session.task is not None and session.task is not asyncio.current_task():
        session.task.cancel()
    session.task = None


def end_session(sessions: dict[str, Session], session: Session) -> None:
    """Stop the session's sender and forget it."""
    stop_playing(session)
    if sessions.pop(session.id, None) is not None:
        log.info("session on %s ended (%d packets)", session.stream.path, session.packets)
    if session.conn.session is session:
        session.conn.session = None


async def expire_sessions(sessions: dict[str, Session], timeout_s: float) -> None:
    """Forever: close the connection of every session silent for `timeout_s` (no request,
    no RTCP receiver report)."""
    while True:
        await asyncio.sleep(min(10.0, timeout_s / 4))
        now = time.monotonic()
        for session in list(sessions.values()):
            if now - session.last_activity > timeout_s:
                log.info("session on %s timed out", session.stream.path)
                session.conn.close()
                end_session(sessions, session)
