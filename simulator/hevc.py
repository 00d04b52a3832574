"""H.265 (HEVC) parts of the simulated video: NAL syntax, the libx265 encoder, the fmtp.

simulator.video encodes and caches every codec's loops the same way; what differs per
codec is here: how NAL unit types are read (`NalSyntax`, H.265's 2-byte header), which
NAL units start a keyframe or must precede one (VPS, SPS, PPS), the encoder's settings,
and the SDP fmtp of an H.265 stream (RFC 7798 section 7: sprop-vps/sps/pps; the rest of
the SDP is simulator.rtsp_protocol.build_sdp's). RTP packetisation (RFC 7798 FUs) is in
simulator.rtp.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from fractions import Fraction

import av
from av.video.codeccontext import VideoCodecContext

# HEVC NAL unit types (ITU-T H.265 table 7-1).
TRAIL_R = 1
BLA_W_LP = 16  # first of the IRAP types (16..23; 22, 23 reserved)
IDR_W_RADL = 19
IDR_N_LP = 20
CRA_NUT = 21
VPS_NUT = 32
SPS_NUT = 33
PPS_NUT = 34
AUD_NUT = 35
PREFIX_SEI = 39
SUFFIX_SEI = 40
NAL_HEADER_BYTES = 2
# Intra random access points a decoder can start at: BLA (16-18), IDR (19, 20), CRA (21).
IRAP_TYPES = frozenset(range(BLA_W_LP, CRA_NUT + 1))
PARAMETER_SETS = (VPS_NUT, SPS_NUT, PPS_NUT)


@dataclass(frozen=True)
class NalSyntax:
    """How one codec's NAL units are told apart: all that cutting a stream into frames,
    finding keyframes and packetising needs (H.264 in simulator.video, H.265 here)."""

    header_bytes: int  # 1 (H.264) or 2 (H.265)
    shift: int  # nal_unit_type = (first byte >> shift) & mask
    mask: int
    parameter_sets: tuple[int, ...]  # types a keyframe must carry before it, in order
    keyframes: frozenset[int]
    # Not sent: SEI and access unit delimiters carry nothing a client needs, and the RTP
    # marker bit / timestamps already delimit access units.
    dropped: frozenset[int]

    def type_of(self, nal: bytes) -> int:
        return (nal[0] >> self.shift) & self.mask


HEVC_NALS = NalSyntax(NAL_HEADER_BYTES, 1, 0x3F, PARAMETER_SETS, IRAP_TYPES,
                      frozenset({AUD_NUT, PREFIX_SEI, SUFFIX_SEI}))


def hevc_nal_type(nal: bytes) -> int:
    return HEVC_NALS.type_of(nal)


def encoder(width: int, height: int, time_base_fps: int, fps: int, *, keyint: int,
            bitrate_kbps: int | None, constant_qp: int) -> VideoCodecContext:
    """libx265 set up like simulator.video's libx264: no B-frames, closed GOPs, IDRs only
    where a frame is forced to I (`forced-idr`), VPS/SPS/PPS before every IDR; a constant
    quantiser when `bitrate_kbps` is None (repeated pictures then decode identically)."""
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, time_base_fps)
    ctx.framerate = Fraction(fps, 1)
    ctx.max_b_frames = 0
    # open-gop=0: keyframes are IDR, not CRA (a CRA's leading pictures would reference the
    # previous GOP, which breaks switching variants at GOP boundaries). info=0: no SEI
    # with the encoder's settings in every keyframe. One frame thread, one pool thread:
    # two encodes run side by side on the 2-core laptop (rtsp_media.MAX_PARALLEL_PREPARES).
    params = (f"keyint={keyint}:min-keyint=1:scenecut=0:bframes=0:repeat-headers=1:"
              "open-gop=0:info=0:aud=0:frame-threads=1:pools=1:log-level=error")
    if bitrate_kbps is None:
        params += f":qp={constant_qp}"
    else:
        ctx.bit_rate = bitrate_kbps * 1000
        params += f":vbv-maxrate={bitrate_kbps}:vbv-bufsize={bitrate_kbps}"
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "forced-idr": "1",
                   "x265-params": params}
    return ctx


def rbsp(nal: bytes) -> bytes:
    """The NAL unit's payload with emulation prevention bytes (00 00 03) removed."""
    out = bytearray()
    zeros = 0
    for b in nal[NAL_HEADER_BYTES:]:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


@dataclass(frozen=True)
class ProfileTierLevel:
    profile_id: int  # general_profile_idc: 1 Main, 2 Main 10
    tier: int  # general_tier_flag
    level_id: int  # general_level_idc: 30 x the level (93 = level 3.1)


def profile_tier_level(sps: bytes) -> ProfileTierLevel:
    """general_profile_tier_level() of an SPS (it follows a 4-bit VPS id, 3-bit sub-layer
    count and 1-bit nesting flag: one byte; then 2+1+5 bits, 32 + 48 flag bits, level)."""
    data = rbsp(sps)
    if len(data) < 13:
        raise ValueError("SPS too short")
    b = data[1]
    return ProfileTierLevel(profile_id=b & 0x1F, tier=(b >> 5) & 1, level_id=data[12])


def fmtp(vps: bytes, sps: bytes, pps: bytes) -> str:
    """The a=fmtp parameters of RFC 7798 section 7.1 for one stream."""
    ptl = profile_tier_level(sps)

    def b64(x: bytes) -> str:
        return base64.b64encode(x).decode()

    return (f"profile-space=0;profile-id={ptl.profile_id};tier-flag={ptl.tier};"
            f"level-id={ptl.level_id};sprop-vps={b64(vps)};sprop-sps={b64(sps)};"
            f"sprop-pps={b64(pps)}")
