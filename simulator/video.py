"""Pre-encoded H.264 / H.265 video for the simulated cameras (DESIGN.md "RTSP / RTP / H.264").

A synthetic street scene (sky, buildings, a road with lane markings, vehicles driving
through) is drawn with numpy and encoded ONCE per `VideoKey` (codec, resolution, frame
rate, bit rate, look) with PyAV's libx264 (or libx265: simulator.hevc) into a short loop
of whole GOPs (default 4 s, one IDR every 2 s, no B-frames, constrained baseline).
Derived variants used by stream faults are encoded at the same time: black frames, a
frozen picture (one frame repeated), a low bit rate and a fifth of the frame rate. Every
variant has the same timeline of `slots` frame slots (slot s at s/fps seconds), with an
IDR at every GOP start, so a sender can switch variants at any GOP boundary without
breaking the decoder.

Encoded loops are cached on disk (`.npz`, no pickle, one file per variant) keyed by every
parameter, so tests and demo starts after the first are fast. Variants are encoded on
demand: a stream needs only NORMAL until a fault asks for another one.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.codeccontext import VideoCodecContext
from av.video.frame import PictureType

from simulator import hevc
from simulator.errors import SimulatorError
from simulator.hevc import NalSyntax
from simulator.street_scene import StreetScene

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: one lap per vehicle per loop (keyframes differ)
LOOKS = 4  # distinct scenes; a stream's look is look_seed % LOOKS
LOOP_SECONDS = 4
GOP_SECONDS = 2
FPS_DROP_FACTOR = 5  # the FPS_DROP variant keeps every 5th frame (plus every IDR slot)
LOW_BITRATE_DIVISOR = 10
RTP_CLOCK = 90_000

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9
H264_NALS = NalSyntax(1, 0, 0x1F, (NAL_SPS, NAL_PPS), frozenset({NAL_IDR}),
                      frozenset({NAL_SEI, NAL_AUD}))


class EncodeCancelled(SimulatorError):
    """VideoLibrary.close() was called while this encode ran (the city is stopping)."""


class Codec(enum.StrEnum):
    H264 = "h264"
    H265 = "h265"

    @property
    def nals(self) -> NalSyntax:
        return H264_NALS if self is Codec.H264 else hevc.HEVC_NALS


class Variant(enum.StrEnum):
    NORMAL = "normal"
    BLACK = "black"
    FROZEN = "frozen"
    LOW_BITRATE = "low_bitrate"
    FPS_DROP = "fps_drop"


@dataclass(frozen=True, order=True)
class VideoKey:
    """Everything that determines the encoded pictures of a stream."""

    width: int
    height: int
    fps: int
    bitrate_kbps: int = 2048
    look: int = 0
    loop_seconds: int = LOOP_SECONDS
    codec: Codec = Codec.H264

    def __post_init__(self) -> None:
        if self.width < 16 or self.height < 16 or self.width % 2 or self.height % 2:
            raise ValueError(f"unsupported size {self.width}x{self.height} (even, >= 16)")
        if not 1 <= self.fps <= 120:
            raise ValueError(f"unsupported frame rate {self.fps}")
        if self.loop_seconds % GOP_SECONDS:
            raise ValueError("loop_seconds must be a multiple of GOP_SECONDS")

    @property
    def slots(self) -> int:
        return self.fps * self.loop_seconds

    @property
    def gop(self) -> int:
        """Frames (slots) from one IDR to the next."""
        return self.fps * GOP_SECONDS

    def cache_name(self, variant: Variant) -> str:
        return (f"{self.codec}_v{FORMAT_VERSION}_{self.width}x{self.height}_{self.fps}fps_"
                f"{self.bitrate_kbps}k_look{self.look}_{self.loop_seconds}s_{variant}.npz")


@dataclass(frozen=True)
class EncodedFrame:
    nals: tuple[bytes, ...]  # NAL units without start codes; an IDR starts [VPS,] SPS, PPS
    keyframe: bool


@dataclass(frozen=True)
class EncodedLoop:
    """One variant of one key: a frame (or None: nothing sent) per slot."""

    key: VideoKey
    variant: Variant
    frames: tuple[EncodedFrame | None, ...]
    sps: bytes
    pps: bytes
    vps: bytes = b""  # H.265 only

    @property
    def profile_level_id(self) -> str:
        return self.sps[1:4].hex().upper()

    def slot_ticks(self, slot: int) -> int:
        """90 kHz timestamp of a slot from the start of the loop."""
        return slot * RTP_CLOCK // self.key.fps

    @property
    def duration_ticks(self) -> int:
        return self.key.loop_seconds * RTP_CLOCK

    def annexb(self) -> bytes:
        """The loop as an Annex B elementary stream (for decoding checks)."""
        return b"".join(b"\x00\x00\x00\x01" + nal
                        for f in self.frames if f is not None for nal in f.nals)

    @property
    def size_bytes(self) -> int:
        return sum(len(n) for f in self.frames if f is not None for n in f.nals)


def nal_type(nal: bytes) -> int:
    return nal[0] & 0x1F


def split_annexb(data: bytes) -> list[bytes]:
    """NAL units of an Annex B byte stream (3- or 4-byte start codes)."""
    nals: list[bytes] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        end = len(data) if j < 0 else j
        # A NAL unit ends in its stop bit, never 00: zeros are a 4-byte start code's first
        # byte or trailing_zero_8bits.
        nal = data[start:end].rstrip(b"\x00")
        if nal:
            nals.append(nal)
        i = j
    return nals


# --- encoding -------------------------------------------------------------------------------


FROZEN_QP = 24  # the frozen variant uses a constant quantiser: repeated frames decode identically


def _encoder(key: VideoKey, bitrate_kbps: int | None, fps: int) -> VideoCodecContext:
    """libx264: constrained baseline, no B-frames, IDRs only where forced (or libx265)."""
    if key.codec is Codec.H265:
        return hevc.encoder(key.width, key.height, key.fps, fps, keyint=key.slots * 4,
                            bitrate_kbps=bitrate_kbps, constant_qp=FROZEN_QP)
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height = key.width, key.height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, key.fps)
    ctx.framerate = Fraction(fps, 1)
    ctx.max_b_frames = 0
    params = (f"keyint={key.slots * 4}:min-keyint=1:scenecut=0:bframes=0:repeat-headers=1:"
              "sliced-threads=0:aud=0")
    if bitrate_kbps is None:
        params += f":qp={FROZEN_QP}"
    else:
        ctx.bit_rate = bitrate_kbps * 1000
        params += f":vbv-maxrate={bitrate_kbps}:vbv-bufsize={bitrate_kbps}"
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline",
                   "forced-idr": "1", "x264-params": params}
    return ctx


def _encode(key: VideoKey, variant: Variant, scene: StreetScene | None,
            cancel: threading.Event | None = None) -> EncodedLoop:
    if variant is Variant.FPS_DROP:
        slots = [s for s in range(key.slots) if s % FPS_DROP_FACTOR == 0 or s % key.gop == 0]
        fps = max(1, round(key.fps / FPS_DROP_FACTOR))
    else:
        slots = list(range(key.slots))
        fps = key.fps
    bitrate: int | None = key.bitrate_kbps
    if variant is Variant.LOW_BITRATE:
        bitrate = max(16, key.bitrate_kbps // LOW_BITRATE_DIVISOR)
    elif variant is Variant.FPS_DROP:
        bitrate = max(16, key.bitrate_kbps // FPS_DROP_FACTOR)
    elif variant in (Variant.FROZEN, Variant.BLACK):
        bitrate = None
    ctx = _encoder(key, bitrate, fps)
    still: np.ndarray | None = None
    if variant is Variant.BLACK or scene is None:
        still = np.full((key.height * 3 // 2, key.width), 128, np.uint8)
        still[:key.height] = 16
    elif variant is Variant.FROZEN:
        still = scene.frame(0)
    out: dict[int, EncodedFrame] = {}
    syntax = key.codec.nals
    params: dict[int, bytes] = {}  # the latest parameter set of each type

    def collect(packets: list[av.Packet[Any]]) -> None:
        for packet in packets:
            nals = [n for n in split_annexb(bytes(packet))
                    if syntax.type_of(n) not in syntax.dropped]
            types = [syntax.type_of(n) for n in nals]
            params.update((t, n) for t, n in zip(types, nals, strict=True)
                          if t in syntax.parameter_sets)
            key_frame = any(t in syntax.keyframes for t in types)
            if key_frame and not any(t in syntax.parameter_sets for t in types):
                nals = [params[t] for t in syntax.parameter_sets] + nals
            assert packet.pts is not None
            out[int(packet.pts)] = EncodedFrame(tuple(nals), key_frame)

    for slot in slots:
        if cancel is not None and cancel.is_set():
            raise EncodeCancelled(f"encoding {key} ({variant}) cancelled")
        img = still if still is not None else scene.frame(slot)  # type: ignore[union-attr]
        frame = av.VideoFrame.from_ndarray(img, format="yuv420p")
        frame.pts = slot
        frame.time_base = Fraction(1, key.fps)
        frame.pict_type = PictureType.I if slot % key.gop == 0 else PictureType.NONE
        collect(ctx.encode(frame))
    collect(ctx.encode(None))
    frames = tuple(out.get(s) for s in range(key.slots))
    for s in range(0, key.slots, key.gop):
        f = frames[s]
        if f is None or not f.keyframe:
            raise RuntimeError(f"encoder did not produce an IDR at slot {s} ({key}, {variant})")
    ps = [params.get(t, b"") for t in syntax.parameter_sets]
    return EncodedLoop(key, variant, frames, sps=ps[-2], pps=ps[-1],
                       vps=ps[0] if len(ps) == 3 else b"")


def encode_variants(key: VideoKey, variants: Iterable[Variant] | None = None,
                    cancel: threading.Event | None = None) -> dict[Variant, EncodedLoop]:
    """Encode `variants` (default: all) of `key` (CPU-heavy: call it off the event loop).

    Raises EncodeCancelled as soon as `cancel` is set (checked before every frame)."""
    wanted = list(Variant) if variants is None else list(variants)
    scene = None
    if any(v is not Variant.BLACK for v in wanted):
        scene = StreetScene(key.width, key.height, key.look, key.slots)
    return {v: _encode(key, v, None if v is Variant.BLACK else scene, cancel) for v in wanted}


# --- disk cache -----------------------------------------------------------------------------


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "citywatch" / "video"


def _save(loop: EncodedLoop, path: Path) -> None:
    nals: list[bytes] = []
    frame_first = np.full(len(loop.frames), -1, np.int64)
    frame_count = np.zeros(len(loop.frames), np.int64)
    keyframe = np.zeros(len(loop.frames), np.bool_)
    for i, f in enumerate(loop.frames):
        if f is None:
            continue
        frame_first[i] = len(nals)
        frame_count[i] = len(f.nals)
        keyframe[i] = f.keyframe
        nals.extend(f.nals)
    lengths = np.array([len(n) for n in nals], np.int64)
    data = np.frombuffer(b"".join(nals), np.uint8)
    meta = json.dumps({"version": FORMAT_VERSION, "variant": str(loop.variant),
                       "sps": loop.sps.hex(), "pps": loop.pps.hex(), "vps": loop.vps.hex()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, data=data, lengths=lengths, frame_first=frame_first,
                     frame_count=frame_count, keyframe=keyframe, meta=np.array(meta))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(key: VideoKey, variant: Variant, path: Path) -> EncodedLoop:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        if meta["version"] != FORMAT_VERSION or meta["variant"] != str(variant):
            raise ValueError("stale cache entry")
        data = z["data"].tobytes()
        lengths = z["lengths"]
        first, count, keyframe = z["frame_first"], z["frame_count"], z["keyframe"]
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    nals = [data[offsets[i]:offsets[i + 1]] for i in range(len(lengths))]
    frames: list[EncodedFrame | None] = []
    for i in range(len(first)):
        if first[i] < 0:
            frames.append(None)
        else:
            frames.append(EncodedFrame(tuple(nals[first[i]:first[i] + count[i]]),
                                       bool(keyframe[i])))
    if len(frames) != key.slots:
        raise ValueError("cache entry has the wrong number of slots")
    return EncodedLoop(key, variant, tuple(frames), bytes.fromhex(meta["sps"]),
                       bytes.fromhex(meta["pps"]), bytes.fromhex(meta.get("vps", "")))


class VideoLibrary:
    """Encoded loops by key and variant, from memory, the disk cache or a fresh encode.

    Thread-safe: several keys may be prepared at once from worker threads; one key is
    prepared by one thread at a time. close() makes encodes in progress stop early.
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._loops: dict[VideoKey, dict[Variant, EncodedLoop]] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[VideoKey, threading.Lock] = {}
        self._cancel = threading.Event()
        self.encoded = 0  # get() calls that encoded something (cache misses), for tests/logs
        self.loaded = 0  # get() calls served from the disk cache alone

    def cached(self, key: VideoKey) -> dict[Variant, EncodedLoop] | None:
        return self._loops.get(key)

    def get(self, key: VideoKey,
            variants: Iterable[Variant] | None = None) -> dict[Variant, EncodedLoop]:
        """`variants` (default: all) of `key`; blocks while encoding (call it from a worker
        thread). Raises EncodeCancelled after close()."""
        wanted = list(Variant) if variants is None else list(dict.fromkeys(variants))
        with self._lock:
            have = self._loops.get(key, {})
            if all(v in have for v in wanted):
                return {v: have[v] for v in wanted}
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                have = dict(self._loops.get(key, {}))
            missing = [v for v in wanted if v not in have]
            from_disk = self._from_disk(key, missing)
            have.update(from_disk)
            missing = [v for v in missing if v not in from_disk]
            if missing:
                started = time.monotonic()
                fresh = encode_variants(key, missing, self._cancel)
                self.encoded += 1
                try:
                    for variant, loop in fresh.items():
                        _save(loop, self.cache_dir / key.cache_name(variant))
                except OSError as exc:
                    logger.warning("cannot write the video cache in %s: %s", self.cache_dir, exc)
                logger.info("encoded %s %dx%d@%d look %d (%d kbit/s) %s in %.2f s", key.codec,
                            key.width, key.height, key.fps, key.look, key.bitrate_kbps,
                            "+".join(fresh), time.monotonic() - started)
                have.update(fresh)
            elif from_disk:
                self.loaded += 1
            with self._lock:
                self._loops.setdefault(key, {}).update(have)
            return {v: have[v] for v in wanted}

    def forget(self, key: VideoKey) -> None:
        """Drop the in-memory copy (the caller keeps what it needs)."""
        with self._lock:
            self._loops.pop(key, None)

    def close(self) -> None:
        """Make encodes in progress (and later ones) raise EncodeCancelled; cache reads go on."""
        self._cancel.set()

    def _from_disk(self, key: VideoKey, variants: list[Variant]) -> dict[Variant, EncodedLoop]:
        loops: dict[Variant, EncodedLoop] = {}
        for variant in variants:
            path = self.cache_dir / key.cache_name(variant)
            if not path.exists():
                continue
            try:
                loops[variant] = _load(key, variant, path)
            except (OSError, ValueError, KeyError) as exc:
                logger.warning("ignoring a bad video cache entry %s: %s", path.name, exc)
        return loops


def iter_keyframe_slots(loop: EncodedLoop) -> Iterator[int]:
    return (i for i, f in enumerate(loop.frames) if f is not None and f.keyframe)
