"""Pixel checks on an occasional keyframe: black, frozen, covered (tamper).

Only keyframes are ever decoded, by a decoder of their own that is fed nothing else
(``skip_frame="NONKEY"`` as well, so it would drop anything else), and only as often as
the caller allows (the sampler: at most once per ``pixel_interval_s``). The decoded
picture is scaled down to a 64x36 grey thumbnail; numpy then gives the luma mean and
standard deviation, and the thumbnail is compared with the previous ones for freezes.

Thresholds (named so that the hub and tests use the same numbers):

- ``BLACK_LUMA_MEAN`` 20 of 255 (full range; video "black" is 16 limited range = 0 here),
  together with ``BLACK_LUMA_STD`` 8: a dark but textured night scene has a spread, a
  dead sensor, a lens cap or a black encoder output has none.
- ``FROZEN_MAD`` 0.5 grey levels mean absolute difference between consecutive decoded
  keyframes, over ``FROZEN_KEYFRAMES`` = 3 keyframes in a row. A frozen encoder repeats
  one source picture: its keyframes decode to (nearly) the same pixels. A live scene,
  even an empty street at night, differs by sensor noise and light; after 64x36
  downscaling that noise shrinks, so the threshold is well below one grey level but
  above zero to allow for the rate control re-quantising the same picture. Three in a
  row (not two) because a static scene can match once by chance.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import Any, cast

import av
import numpy as np
import numpy.typing as npt
from av.video.codeccontext import VideoCodecContext

THUMB_W, THUMB_H = 64, 36
BLACK_LUMA_MEAN = 20.0
BLACK_LUMA_STD = 8.0
FROZEN_MAD = 0.5
FROZEN_KEYFRAMES = 3


@dataclass(frozen=True)
class PixelStats:
    luma_mean: float
    luma_std: float
    frozen: bool | None  # None until FROZEN_KEYFRAMES keyframes were decoded


def looks_black(luma_mean: float | None, luma_std: float | None) -> bool:
    """True when a picture with these statistics is black (or covered)."""
    return (luma_mean is not None and luma_std is not None
            and luma_mean < BLACK_LUMA_MEAN and luma_std < BLACK_LUMA_STD)


class PixelProbe:
    """Decodes single keyframes of one stream and keeps the last thumbnails."""

    def __init__(self, codec: str, extradata: bytes | None) -> None:
        self._codec = codec
        self._extradata = extradata
        self._ctx = self._open()
        self._recent: deque[npt.NDArray[np.int16]] = deque(maxlen=FROZEN_KEYFRAMES)

    def _open(self) -> VideoCodecContext:
        ctx = cast(VideoCodecContext, av.CodecContext.create(self._codec, "r"))
        if self._extradata:
            ctx.extradata = self._extradata
        ctx.skip_frame = "NONKEY"
        ctx.thread_count = 1  # a single picture: threads cost more than they give
        return ctx

    def measure(self, packet: av.Packet[Any]) -> PixelStats | None:
        """Decode ``packet`` (a keyframe); None when it does not decode on its own."""
        try:
            frames = self._ctx.decode(av.Packet(bytes(packet)))
            if not frames:  # the decoder holds the picture back: drain, then reset
                frames = self._ctx.decode(None)
                self._ctx = self._open()
        except av.error.FFmpegError:
            self._ctx = self._open()
            return None
        pictures = [f for f in frames if isinstance(f, av.VideoFrame)]
        if not pictures:
            return None
        thumb = pictures[-1].reformat(width=THUMB_W, height=THUMB_H, format="gray")
        luma = thumb.to_ndarray()[:THUMB_H, :THUMB_W].astype(np.int16)
        self._recent.append(luma)
        frozen: bool | None = None
        if len(self._recent) == FROZEN_KEYFRAMES:
            items = list(self._recent)
            frozen = all(
                float(np.mean(np.abs(a - b))) < FROZEN_MAD
                for a, b in itertools.pairwise(items)
            )
        return PixelStats(float(luma.mean()), float(luma.std()), frozen)
