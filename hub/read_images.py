"""JPEG images of reads (plate crops, overviews) as files under the data directory.

Images are written before their read is committed: a crash between the two leaves an
orphan file (harmless, purged with its day), never a read pointing at nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from hub.errors import StoreError

log = logging.getLogger(__name__)

IMAGES_DIRNAME = "images"

# A plate crop is a few KB, an overview a few hundred; a bigger "image" is not one.
MAX_IMAGE_BYTES = 8 * 1024 * 1024
JPEG_MAGIC = b"\xff\xd8"


class ReadImages:
    """Writes, reads and deletes read images; paths are relative to the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    async def save(self, jpeg: bytes, at: datetime, kind: str) -> str | None:
        """Store one JPEG; returns its relative path, or None if the bytes are no JPEG
        (vendor samples carry truncated or placeholder images: keep the read, drop those)."""
        if not jpeg.startswith(JPEG_MAGIC) or len(jpeg) > MAX_IMAGE_BYTES:
            return None
        relative = Path(IMAGES_DIRNAME) / f"{at:%Y-%m-%d}" / f"{uuid.uuid4().hex}-{kind}.jpg"
        try:
            await asyncio.to_thread(self._write, self.data_dir / relative, jpeg)
        except OSError as exc:
            raise StoreError(f"cannot store a read image: {exc.strerror or exc}") from exc
        return relative.as_posix()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def load(self, relative: str) -> bytes | None:
        """The bytes of a stored image, None if it is gone or the path leaves the store."""
        path = (self.data_dir / relative).resolve()
        if not path.is_relative_to((self.data_dir / IMAGES_DIRNAME).resolve()):
            return None
        try:
            return await asyncio.to_thread(path.read_bytes)
        except OSError:
            return None

    async def delete(self, relatives: Sequence[str]) -> int:
        """Remove images of purged reads; returns how many files went."""

        def work() -> int:
            gone = 0
            for relative in relatives:
                try:
                    (self.data_dir / relative).unlink()
                    gone += 1
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    log.warning("read images: cannot delete %s: %s", relative, exc)
            return gone

        return await asyncio.to_thread(work)
