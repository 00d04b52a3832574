"""RTP video depacketising for the stream sampler: SDP, parameter sets, access units.

Per RTP packet only cheap work is done (drivers.stream_rtp feeds packets straight from
its receive buffer, without copying them): the 12-byte header (sequence number,
timestamp, marker), the payload size and the type of the first NAL unit. Access units
(frames) end at the marker bit, or when the timestamp changes (a lost marker). A
keyframe is an access unit with an IDR slice (H.264 type 5, also inside FU-A / STAP-A)
or an IRAP picture (H.265 types 16-21, also inside FU / AP) - what FFmpeg's parsers flag
as keyframes. Sequence gaps count lost packets; a packet that is not RTP of the stream's
payload type, or too short to be one, is counted as malformed and never raises.

Only on request (`Depacketizer.capture`) are payloads copied: the NAL units of access
units are collected until one is a keyframe, which is handed over as an Annex B byte
string (start codes, parameter sets from the SDP or in-band first) for a decoder.

RFC 6184 (H.264): single NAL 1-23, STAP-A 24, FU-A 28. RFC 7798 (H.265): single NAL
0-47, AP 48, FU 49; no DONL (sprop-max-don-diff 0, as cameras send).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

H264, HEVC = "h264", "hevc"
START_CODE = b"\x00\x00\x00\x01"
_RTP_HEADER = struct.Struct("!BBHI")
_U16 = struct.Struct("!H")
# H.264 NAL types: IDR slice, SPS, PPS, STAP-A, FU-A.
H264_IDR, H264_SPS, H264_PPS, H264_STAP_A, H264_FU_A = 5, 7, 8, 24, 28
# H.265 NAL types: IRAP pictures (BLA 16-18, IDR 19-20, CRA 21), VPS, SPS, PPS, AP, FU.
HEVC_IRAP = range(16, 22)
HEVC_VPS, HEVC_SPS, HEVC_PPS, HEVC_AP, HEVC_FU = 32, 33, 34, 48, 49
H264_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10",
                 122: "High 4:2:2", 244: "High 4:4:4 Predictive"}
HEVC_PROFILES = {1: "Main", 2: "Main 10", 3: "Main Still Picture", 4: "Rext"}
# H.264 profiles whose SPS carries chroma format, bit depths and scaling matrices.
_H264_HIGH = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})


def _nal_type(codec: str, nal: bytes | bytearray) -> int:
    return (nal[0] >> 1) & 0x3F if codec == HEVC else nal[0] & 0x1F


def _is_parameter_set(codec: str, nal_type: int) -> bool:
    if codec == HEVC:
        return nal_type in (HEVC_VPS, HEVC_SPS, HEVC_PPS)
    return nal_type in (H264_SPS, H264_PPS)


# ---------------------------------------------------------------------------------------
# SDP and SPS
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SdpVideo:
    """The first H.264 / H.265 video media of a session description."""

    codec: str  # "h264" | "hevc"
    payload_type: int
    clock_rate: int
    control: str | None  # a=control of the media (relative or absolute URL), if any
    parameter_sets: tuple[bytes, ...]  # from sprop-parameter-sets / sprop-vps/sps/pps
    profile: str | None
    width: int  # from the SPS (0 when the SDP has none and no a=framesize)
    height: int
    fps: float | None  # a=framerate, when the SDP says


def _b64_nals(value: str) -> list[bytes]:
    nals = []
    for part in value.split(","):
        try:
            nal = base64.b64decode(part.strip(), validate=False)
        except (binascii.Error, ValueError):
            continue
        if nal:
            nals.append(nal)
    return nals


def parse_sdp(text: str) -> SdpVideo:
    """The video media of an SDP; ValueError when it has no H.264 / H.265 video."""
    media: list[list[str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
    for lines in media:
        fields = lines[0][2:].split()
        if len(fields) < 4 or fields[0] != "video":
            continue
        for pt_text in fields[3:]:
            if not _is_number(pt_text):
                continue  # a payload type is a number: no rtpmap of it can be used
            found = _video_media(lines, pt_text)
            if found is not None:
                return found
    raise ValueError("the SDP has no H.264 or H.265 video")


def _is_number(text: str) -> bool:
    """ASCII digits only: str.isdigit also takes "²", which int() refuses."""
    return text.isascii() and text.isdigit()


def _video_media(lines: list[str], pt_text: str) -> SdpVideo | None:
    codec = clock = None
    fmtp: dict[str, str] = {}
    control = fps = None
    size = (0, 0)
    for line in lines[1:]:
        key, _, value = line[2:].partition(":")
        if not line.startswith("a="):
            continue
        if key == "rtpmap" and value.split(" ", 1)[0] == pt_text:
            name, _, rate = value.split(" ", 1)[-1].partition("/")
            codec = {"H264": H264, "H265": HEVC, "HEVC": HEVC}.get(name.strip().upper())
            clock = int(rate.split("/")[0]) if _is_number(rate.split("/")[0]) else 90_000
        elif key == "fmtp" and value.split(" ", 1)[0] == pt_text:
            for item in value.split(" ", 1)[-1].split(";"):
                name, _, val = item.partition("=")
                fmtp[name.strip().lower()] = val.strip()
        elif key == "control":
            control = value.strip()
        elif key == "framerate":
            try:
                fps = float(value) or None
            except ValueError:
                fps = None
        elif key == "framesize" and value.split(" ", 1)[0] == pt_text:
            w, _, h = value.split(" ", 1)[-1].partition("-")
            size = (int(w), int(h)) if _is_number(w) and _is_number(h) else size
    if codec is None or clock is None:
        return None
    if codec == HEVC:
        keys = ("sprop-vps", "sprop-sps", "sprop-pps")
        sets = [n for k in keys for n in _b64_nals(fmtp.get(k, ""))]
    else:
        sets = _b64_nals(fmtp.get("sprop-parameter-sets", ""))
    profile, width, height = None, *size
    sps_type = HEVC_SPS if codec == HEVC else H264_SPS
    for nal in sets:
        if _nal_type(codec, nal) == sps_type:
            try:
                profile, width, height = (hevc_sps(nal) if codec == HEVC else h264_sps(nal))
            except (IndexError, ValueError):
                pass  # an unreadable SPS: the decoder will say; keep the SDP's size
    return SdpVideo(codec, int(pt_text), clock, control, tuple(sets), profile, width, height,
                    fps)


class _Bits:
    """An MSB-first bit reader over an RBSP (IndexError past the end)."""

    def __init__(self, data: bytes) -> None:
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8

    def u(self, n: int) -> int:
        if n > self._left:
            raise IndexError("SPS ends early")
        self._left -= n
        return (self._value >> self._left) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _skip(b: _Bits, *fields: int | str) -> None:
    """Read and drop fields: a bit count, or "ue" / "se"."""
    for field in fields:
        if field == "ue":
            b.ue()
        elif field == "se":
            b.se()
        else:
            b.u(int(field))


def _rbsp(nal: bytes, header: int) -> bytes:
    # 00 00 03 is an emulation prevention sequence: the 03 is not part of the payload.
    return re.sub(rb"\x00\x00\x03", b"\x00\x00", nal[header:])


def h264_sps(nal: bytes) -> tuple[str | None, int, int]:
    """(profile name, width, height) of an H.264 SPS NAL unit (ITU-T H.264 7.3.2.1.1)."""
    b = _Bits(_rbsp(nal, 1))
    profile_idc, constraints = b.u(8), b.u(8)
    b.u(8)  # level_idc
    b.ue()  # seq_parameter_set_id
    chroma = 1
    if profile_idc in _H264_HIGH:
        chroma = b.ue()
        if chroma == 3:
            b.u(1)  # separate_colour_plane_flag
        _skip(b, "ue", "ue", 1)  # bit depths, qpprime_y_zero_transform_bypass_flag
        if b.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + b.se() + 256) % 256
                        last = nxt or last
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        _skip(b, 1, "se", "se")
        for _ in range(b.ue()):
            b.se()
    _skip(b, "ue", 1)  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
    width_mbs, height_units = b.ue() + 1, b.ue() + 1
    frame_mbs_only = b.u(1)
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field_flag
    b.u(1)  # direct_8x8_inference_flag
    width, height = width_mbs * 16, (2 - frame_mbs_only) * height_units * 16
    if b.u(1):  # frame_cropping_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        unit_x = 2 if chroma in (1, 2) else 1
        unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    name = H264_PROFILES.get(profile_idc)
    if profile_idc == 66 and constraints & 0x40:
        name = "Constrained Baseline"
    return name, width, height


def hevc_sps(nal: bytes) -> tuple[str | None, int, int]:
    """(profile name, width, height) of an H.265 SPS NAL unit (ITU-T H.265 7.3.2.2)."""
    b = _Bits(_rbsp(nal, 2))
    b.u(4)  # sps_video_parameter_set_id
    sub_layers = b.u(3)  # sps_max_sub_layers_minus1
    b.u(1)  # sps_temporal_id_nesting_flag
    b.u(3)  # general_profile_space, general_tier_flag
    profile_idc = b.u(5)
    _skip(b, 32, 48, 8)  # compatibility flags, constraint flags, general_level_idc
    present = [(b.u(1), b.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        b.u(2 * (8 - sub_layers))  # reserved_zero_2bits
    for profile_present, level_present in present:
        b.u(88 * profile_present + 8 * level_present)
    b.ue()  # sps_seq_parameter_set_id
    chroma = b.ue()
    if chroma == 3:
        b.u(1)  # separate_colour_plane_flag
    width, height = b.ue(), b.ue()
    if b.u(1):  # conformance_window_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        width -= (2 if chroma in (1, 2) else 1) * (left + right)
        height -= (2 if chroma == 1 else 1) * (top + bottom)
    return HEVC_PROFILES.get(profile_idc), width, height


# ---------------------------------------------------------------------------------------
# Packets to access units
# ---------------------------------------------------------------------------------------

# (timestamp in clock ticks, unwrapped; payload bytes; keyframe)
OnAccessUnit = Callable[[int, int, bool], None]
OnKeyframe = Callable[[bytes], None]  # an Annex B keyframe access unit


class Depacketizer:
    """RTP packets of one video stream to access-unit figures (and, on request, one
    keyframe's bytes). ``feed`` never raises: bad packets are counted."""

    def __init__(self, sdp: SdpVideo, on_access_unit: OnAccessUnit,
                 on_keyframe: OnKeyframe | None = None) -> None:
        self.codec = sdp.codec
        self.payload_type = sdp.payload_type
        self.parameter_sets: dict[int, bytes] = {
            _nal_type(sdp.codec, n): n for n in sdp.parameter_sets}
        self._on_au = on_access_unit
        self._on_keyframe = on_keyframe
        self._key_of = self._hevc_key if sdp.codec == HEVC else self._h264_key
        # Set to collect NAL units, from the next access unit's start, until a keyframe
        # access unit is complete (handed to on_keyframe; then capture is False again).
        self.capture = False
        self._collecting = False  # collecting the current access unit (from its start)
        self.packets = 0  # RTP packets of the stream taken
        self.lost = 0  # missing sequence numbers
        self.malformed = 0  # not RTP v2 of our payload type, or no payload
        self.late = 0  # duplicates and packets older than the last one (dropped)
        self._seq: int | None = None
        self._ts: int | None = None  # RTP timestamp of the access unit being received
        self._ext_ts = 0  # unwrapped (64-bit) timestamp of the last finished access unit
        self._last_ts32: int | None = None
        self._bytes = 0
        self._key = False
        self._broken = False  # a packet of the current access unit was lost
        self._nals: list[bytes | bytearray] = []
        self._fu: bytearray | None = None

    def feed(self, buf: bytes | bytearray, off: int, size: int) -> None:
        """One RTP packet at ``buf[off:off + size]``."""
        try:
            self._feed(buf, off, size)
        except (IndexError, struct.error):
            self.malformed += 1

    def _feed(self, buf: bytes | bytearray, off: int, size: int) -> None:
        b0, b1, seq, ts = _RTP_HEADER.unpack_from(buf, off)
        if b0 & 0xC0 != 0x80 or b1 & 0x7F != self.payload_type:
            self.malformed += 1
            return
        start, end = off + 12 + 4 * (b0 & 0x0F), off + size
        if b0 & 0x10:  # header extension: 16-bit profile, 16-bit length in words
            start += 4 + 4 * _U16.unpack_from(buf, start + 2)[0]
        if b0 & 0x20:  # padding: the last byte says how much
            end -= buf[end - 1]
        if start >= end or end > off + size:
            self.malformed += 1
            return
        last = self._seq
        if last is not None:
            step = (seq - last) & 0xFFFF
            if step != 1:
                if step == 0 or step >= 0x8000:  # duplicate, or older than the last one
                    self.late += 1
                    return
                self.lost += step - 1
                self._broken = True
        self._seq = seq
        self.packets += 1
        if ts != self._ts:
            if self._bytes:  # the previous access unit lost its marker packet
                self._finish()
            self._ts = ts
        if not self._bytes:  # the first packet of an access unit
            self._collecting = self.capture
        self._bytes += end - start
        if not self._key:
            self._key = self._key_of(buf, start, end)
        if self._collecting:
            self._collect(buf, start, end)
        if b1 & 0x80:
            self._finish()

    def _h264_key(self, buf: bytes | bytearray, start: int, end: int) -> bool:
        kind = buf[start] & 0x1F
        if kind == H264_IDR:
            return True
        if kind == H264_FU_A:
            return end - start > 1 and buf[start + 1] & 0x1F == H264_IDR
        if kind == H264_STAP_A:
            return any(buf[s] & 0x1F == H264_IDR for s, _ in _aggregated(buf, start + 1, end))
        return False

    def _hevc_key(self, buf: bytes | bytearray, start: int, end: int) -> bool:
        kind = (buf[start] >> 1) & 0x3F
        if kind == HEVC_FU:
            return end - start > 2 and buf[start + 2] & 0x3F in HEVC_IRAP
        if kind == HEVC_AP:
            return any((buf[s] >> 1) & 0x3F in HEVC_IRAP
                       for s, _ in _aggregated(buf, start + 2, end))
        return kind in HEVC_IRAP

    def _collect(self, buf: bytes | bytearray, start: int, end: int) -> None:
        """Add the packet's NAL unit(s), or FU fragment, to the access unit being kept."""
        hevc = self.codec == HEVC
        kind = (buf[start] >> 1) & 0x3F if hevc else buf[start] & 0x1F
        if kind == (HEVC_FU if hevc else H264_FU_A):
            header = 3 if hevc else 2
            fu = buf[start + header - 1]
            if fu & 0x80:  # start: rebuild the NAL header with the fragment's type
                if hevc:
                    first = bytes([(buf[start] & 0x81) | ((fu & 0x3F) << 1), buf[start + 1]])
                else:
                    first = bytes([(buf[start] & 0xE0) | (fu & 0x1F)])
                self._fu = bytearray(first)
            if self._fu is not None:
                self._fu += buf[start + header:end]
                if fu & 0x40:  # end
                    self._nals.append(self._fu)
                    self._fu = None
        elif kind == (HEVC_AP if hevc else H264_STAP_A):
            self._nals += [buf[s:e] for s, e in _aggregated(buf, start + (2 if hevc else 1), end)]
        elif hevc or 1 <= kind <= 23:
            self._nals.append(buf[start:end])

    def _finish(self) -> None:
        ts = self._ts if self._ts is not None else 0
        if self._last_ts32 is not None:
            delta = (ts - self._last_ts32) & 0xFFFFFFFF
            self._ext_ts += delta - (1 << 32) if delta >= 1 << 31 else delta
        self._last_ts32 = ts
        key, nbytes, nals, broken = self._key, self._bytes, self._nals, self._broken
        collected, self._collecting = self._collecting, False
        self._bytes, self._key, self._broken, self._nals, self._fu = 0, False, False, [], None
        self._on_au(self._ext_ts, nbytes, key)
        if collected and nals:
            self._keep(nals, key and not broken)

    def _keep(self, nals: list[bytes | bytearray], complete_keyframe: bool) -> None:
        pictures: list[bytes | bytearray] = []
        for nal in nals:
            if not nal:
                continue
            kind = _nal_type(self.codec, nal)
            if _is_parameter_set(self.codec, kind):
                self.parameter_sets[kind] = bytes(nal)  # the newest win, for later keyframes
            elif complete_keyframe:
                pictures.append(nal)
        if not complete_keyframe or self._on_keyframe is None:
            return
        sets: list[bytes | bytearray] = [self.parameter_sets[t]
                                         for t in sorted(self.parameter_sets)]
        self.capture = False
        self._on_keyframe(START_CODE + START_CODE.join(sets + pictures))


def _aggregated(buf: bytes | bytearray, pos: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each NAL unit in an aggregation packet (16-bit size, unit, ...)."""
    while pos + 2 <= end:
        size = (buf[pos] << 8) | buf[pos + 1]
        pos += 2
        if size == 0 or pos + size > end:
            return
        yield pos, pos + size
        pos += size
