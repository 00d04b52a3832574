"""The data directory's imported hotlists: DATA_DIR/hotlists/<name>.list + <name>.json.

An import parses the file first and only then copies it in (temporary file, then
os.replace), so a bad file never replaces a good list and a crash mid-copy leaves the
old list whole. The JSON beside each list says how to load it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.alpr_model import HotlistInfo
from hub.errors import HotlistError
from hub.hotlists import ParsedHotlist, parse_file
from hub.matcher import Matcher

log = logging.getLogger(__name__)

# A list name becomes a file name: letters, digits, dot, dash, underscore only.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
LIST_SUFFIX, META_SUFFIX = ".list", ".json"


@dataclass(frozen=True)
class HotlistMeta:
    """What the library keeps about an imported list."""

    name: str
    format: str
    covert: bool
    priority: int | None
    source: str  # the imported file's name
    imported_at: datetime
    entries: int
    rejected: int

    def to_json(self) -> str:
        return json.dumps({
            "name": self.name, "format": self.format, "covert": self.covert,
            "priority": self.priority, "source": self.source,
            "imported_at": self.imported_at.isoformat(), "entries": self.entries,
            "rejected": self.rejected}, indent=2)

    @classmethod
    def from_json(cls, text: str, where: Path) -> HotlistMeta:
        try:
            data = json.loads(text)
            return cls(name=str(data["name"]), format=str(data["format"]),
                       covert=bool(data["covert"]),
                       priority=None if data["priority"] is None else int(data["priority"]),
                       source=str(data["source"]),
                       imported_at=datetime.fromisoformat(data["imported_at"]),
                       entries=int(data.get("entries", 0)),
                       rejected=int(data.get("rejected", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise HotlistError(f"{where}: bad hotlist metadata ({exc})") from exc


def check_name(name: str) -> str:
    """A usable list name, or HotlistError."""
    if not _NAME.fullmatch(name):
        raise HotlistError(f"bad hotlist name {name!r}: use letters, digits, '.', '-', '_'"
                           " (at most 64)")
    return name


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


class HotlistLibrary:
    """Imported hotlists under `data_dir`/hotlists."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "hotlists"

    def _paths(self, name: str) -> tuple[Path, Path]:
        check_name(name)
        return self.root / f"{name}{LIST_SUFFIX}", self.root / f"{name}{META_SUFFIX}"

    def import_file(self, path: Path, name: str, covert: bool = False,
                    priority: int | None = None) -> HotlistMeta:
        """Validate `path` as a hotlist, then make it list `name` (replacing an older
        import of that name). Raises HotlistError; the old list stays on any error."""
        list_path, meta_path = self._paths(name)
        parsed = parse_file(Path(path), name=name, covert=covert, priority=priority)
        meta = HotlistMeta(name=name, format=parsed.format.value, covert=covert,
                           priority=priority, source=Path(path).name,
                           imported_at=datetime.now(UTC), entries=len(parsed),
                           rejected=parsed.rejected)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = list_path.with_name(f".{list_path.name}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, list_path)
            _write_atomic(meta_path, meta.to_json().encode())
        except OSError as exc:
            raise HotlistError(f"cannot store hotlist {name!r} in {self.root}: "
                               f"{exc.strerror or exc}") from exc
        log.info("hotlist %s imported from %s: %s entries, %s rejected", name, path,
                 meta.entries, meta.rejected)
        return meta

    def lists(self) -> list[HotlistMeta]:
        """The imported lists, by name."""
        if not self.root.is_dir():
            return []
        metas = []
        for meta_path in sorted(self.root.glob(f"*{META_SUFFIX}")):
            try:
                text = meta_path.read_text(encoding="utf-8")
            except OSError as exc:
                raise HotlistError(f"{meta_path}: cannot read: {exc.strerror or exc}") from exc
            metas.append(HotlistMeta.from_json(text, meta_path))
        return metas

    def remove(self, name: str) -> None:
        """Forget list `name`. Raises HotlistError when there is no such list."""
        list_path, meta_path = self._paths(name)
        if not meta_path.exists():
            raise HotlistError(f"no hotlist named {name!r}")
        try:  # metadata first: a list without it is not loaded
            meta_path.unlink()
            list_path.unlink(missing_ok=True)
        except OSError as exc:
            raise HotlistError(f"cannot remove hotlist {name!r}: {exc.strerror or exc}") from exc

    def _load(self) -> tuple[list[ParsedHotlist], list[HotlistInfo]]:
        parsed_lists, infos = [], []
        for meta in self.lists():
            list_path, _ = self._paths(meta.name)
            parsed = parse_file(list_path, name=meta.name, covert=meta.covert,
                                priority=meta.priority)
            parsed_lists.append(parsed)
            infos.append(HotlistInfo(name=meta.name, entries=len(parsed), covert=meta.covert,
                                     source=meta.source, loaded_at=datetime.now(UTC),
                                     rejected=parsed.rejected))
        return parsed_lists, infos

    def load_lists(self) -> tuple[list[ParsedHotlist], list[HotlistInfo]]:
        """Every imported list, parsed (blocking: see `load_all`)."""
        return self._load()

    def build(self) -> tuple[Matcher, list[HotlistInfo]]:
        """A matcher over every imported list (blocking: see `load_all`)."""
        parsed_lists, infos = self._load()
        return Matcher(parsed_lists), infos

    async def load_all(self) -> tuple[Matcher, list[HotlistInfo]]:
        """`build` in a thread: parsing a national list takes seconds."""
        return await asyncio.to_thread(self.build)
