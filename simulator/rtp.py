"""RTP packetisation of H.264 (RFC 6184), H.265 (RFC 7798) and RTCP sender reports (RFC 3550).

Frames are packetised ONCE into a blob of RTSP-interleaved RTP packets
(`$`, channel, 16-bit length, 12-byte RTP header, payload) whose headers carry zero
sequence numbers, timestamps and SSRC. A session copies the blob and stamps those three
fields per packet with `struct.pack_into` (`stamp`), then writes the whole frame with one
`transport.write`. Packetisation modes: single NAL unit packets for NAL units that fit,
FU-A fragments for larger ones (packetization-mode=1). No STAP-A. H.265 the same way:
single NAL unit packets, or Fragmentation Units (type 49) with the 2-byte payload header
(RFC 7798 section 4.4.3); no aggregation packets, no DONL (sprop-max-don-diff is 0).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulator.video import RTP_CLOCK, Codec, EncodedLoop

RTP_VERSION = 2
PAYLOAD_TYPE = 96
DEFAULT_MTU = 1400  # RTP payload bytes per packet (what cameras use, even over TCP)
FU_A = 28
FU_HEVC = 49  # RFC 7798 Fragmentation Unit payload type
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_SEQ_TS_SSRC = struct.Struct("!HII")
_INTERLEAVED = struct.Struct("!cBH")


def nal_payloads(nal: bytes, mtu: int = DEFAULT_MTU) -> list[bytes]:
    """RTP payloads for one NAL unit: itself if it fits, else FU-A fragments."""
    if len(nal) <= mtu:
        return [nal]
    header = nal[0]
    indicator = bytes([(header & 0xE0) | FU_A])
    nal_type = header & 0x1F
    body = memoryview(nal)[1:]
    chunk = mtu - 2
    out: list[bytes] = []
    for start in range(0, len(body), chunk):
        end = min(start + chunk, len(body))
        fu = nal_type | (0x80 if start == 0 else 0) | (0x40 if end == len(body) else 0)
        out.append(indicator + bytes([fu]) + body[start:end])
    return out


def hevc_nal_payloads(nal: bytes, mtu: int = DEFAULT_MTU) -> list[bytes]:
    """RTP payloads for one H.265 NAL unit: itself if it fits, else Fragmentation Units.

    A FU's payload header is the NAL header with the type replaced by 49 (F, LayerId and
    TID kept); the FU header holds S, E and the NAL unit's own type."""
    if len(nal) <= mtu:
        return [nal]
    header = bytes([(nal[0] & 0x81) | (FU_HEVC << 1), nal[1]])
    nal_type = (nal[0] >> 1) & 0x3F
    body = memoryview(nal)[2:]
    chunk = mtu - 3
    out: list[bytes] = []
    for start in range(0, len(body), chunk):
        end = min(start + chunk, len(body))
        fu = nal_type | (0x80 if start == 0 else 0) | (0x40 if end == len(body) else 0)
        out.append(header + bytes([fu]) + body[start:end])
    return out


Fragmenter = Callable[[bytes, int], list[bytes]]
FRAGMENTERS: dict[Codec, Fragmenter] = {Codec.H264: nal_payloads, Codec.H265: hevc_nal_payloads}


@dataclass(frozen=True)
class FramePackets:
    """All interleaved RTP packets of one frame, with stampable headers."""

    blob: bytes
    header_offsets: tuple[int, ...]  # offset of each packet's RTP header in blob
    keyframe: bool
    payload_bytes: int

    @property
    def packets(self) -> int:
        return len(self.header_offsets)


def packetize_frame(nals: Sequence[bytes], *, keyframe: bool, mtu: int = DEFAULT_MTU,
                    payload_type: int = PAYLOAD_TYPE,
                    fragment: Fragmenter = nal_payloads) -> FramePackets:
    """Interleaved RTP packets (channel 0) for one access unit; marker on the last one.
    `fragment`: the codec's packetisation of one NAL unit (default H.264)."""
    payloads = [p for nal in nals for p in fragment(nal, mtu)]
    parts: list[bytes] = []
    offsets: list[int] = []
    pos = 0
    for i, payload in enumerate(payloads):
        marker = 0x80 if i == len(payloads) - 1 else 0
        header = bytes([RTP_VERSION << 6, marker | payload_type]) + bytes(10)
        frame_len = len(header) + len(payload)
        parts += [_INTERLEAVED.pack(b"$", 0, frame_len), header, payload]
        offsets.append(pos + 4)
        pos += 4 + frame_len
    return FramePackets(b"".join(parts), tuple(offsets), keyframe,
                        sum(len(p) for p in payloads))


def stamp(buf: bytearray, offsets: Sequence[int], seq: int, timestamp: int, ssrc: int,
          channel: int = 0) -> int:
    """Write sequence numbers, timestamp and SSRC into a frame copy; returns the next seq."""
    pack = _SEQ_TS_SSRC.pack_into
    timestamp &= 0xFFFFFFFF
    for off in offsets:
        pack(buf, off + 2, seq, timestamp, ssrc)
        if channel:
            buf[off - 3] = channel
        seq = (seq + 1) & 0xFFFF
    return seq


@dataclass(frozen=True)
class RtpLoop:
    """An encoded loop, packetised: FramePackets (or None) per slot, and slot timestamps."""

    slots: tuple[FramePackets | None, ...]
    slot_ticks: tuple[int, ...]
    duration_ticks: int
    gop: int
    fps: int

    @classmethod
    def from_encoded(cls, loop: EncodedLoop, mtu: int = DEFAULT_MTU) -> RtpLoop:
        fragment = FRAGMENTERS[loop.key.codec]
        frames = tuple(
            None if f is None else packetize_frame(f.nals, keyframe=f.keyframe, mtu=mtu,
                                                   fragment=fragment)
            for f in loop.frames
        )
        return cls(frames, tuple(loop.slot_ticks(i) for i in range(len(frames))),
                   loop.duration_ticks, loop.key.gop, loop.key.fps)

    def ticks(self, index: int) -> int:
        """90 kHz time of global slot `index` (loops repeat forever)."""
        n, slot = divmod(index, len(self.slots))
        return n * self.duration_ticks + self.slot_ticks[slot]


def ntp_timestamp(unix_seconds: float) -> tuple[int, int]:
    seconds = unix_seconds + NTP_UNIX_OFFSET
    whole = int(seconds)
    return whole & 0xFFFFFFFF, int((seconds - whole) * (1 << 32)) & 0xFFFFFFFF


def sender_report(ssrc: int, unix_seconds: float, rtp_timestamp: int, packets: int,
                  octets: int, cname: str = "citywatch") -> bytes:
    """A compound RTCP packet: SR (no report blocks) + SDES with a CNAME."""
    msw, lsw = ntp_timestamp(unix_seconds)
    sr = struct.pack("!BBHIIIIII", 0x80, 200, 6, ssrc, msw, lsw, rtp_timestamp & 0xFFFFFFFF,
                     packets & 0xFFFFFFFF, octets & 0xFFFFFFFF)
    name = cname.encode()[:255]
    item = bytes([1, len(name)]) + name + b"\x00"  # CNAME item, then the END item
    item += b"\x00" * (-(4 + len(item)) % 4)
    sdes = struct.pack("!BBHI", 0x81, 202, (4 + len(item)) // 4, ssrc) + item
    return sr + sdes


def interleave(channel: int, payload: bytes) -> bytes:
    return _INTERLEAVED.pack(b"$", channel, len(payload)) + payload


def parse_rtp_header(packet: bytes) -> tuple[int, int, int, int, bool]:
    """(payload type, sequence number, timestamp, ssrc, marker) of an RTP packet."""
    b0, b1, seq, ts, ssrc = struct.unpack_from("!BBHII", packet)
    if b0 >> 6 != RTP_VERSION:
        raise ValueError("not an RTP version 2 packet")
    return b1 & 0x7F, seq, ts, ssrc, bool(b1 & 0x80)


__all__ = ["DEFAULT_MTU", "RTP_CLOCK", "FramePackets", "RtpLoop", "hevc_nal_payloads",
           "interleave", "nal_payloads", "packetize_frame", "parse_rtp_header",
           "sender_report", "stamp"]
