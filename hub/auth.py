"""Who may call the hub's API: bearer tokens with roles and per-camera grants.

Tokens live hashed (SHA-256 of 32 random bytes: no salt needed for secrets that are not
passwords) in `tokens.sqlite` in the hub's data directory; `citywatch token create` writes
there, a running hub notices the change within `RELOAD_CHECK_S`. The token itself is shown
once, at creation, and never stored, logged or returned again.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hub.errors import HubError

log = logging.getLogger(__name__)

TOKENS_FILE = "tokens.sqlite"

# How often a running hub looks for changed tokens: a revoked grant must stop working
# within 2 s (issue 9); a stat() every half second costs nothing.
RELOAD_CHECK_S = 0.5

# Random bytes per token: 256 bits, as for any bearer secret.
TOKEN_BYTES = 32
# Every created token starts with this: a leaked token is recognisable to secret scanners
# and to a grep of logs.
TOKEN_PREFIX = "cw_"

# Token names appear in audit trails ("name/person"), listings and command lines: letters,
# digits and . _ @ - only, so a name can neither pose as another nor break a log line.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
# Camera ids as the hub config allows them, without whitespace or control characters.
CAMERA_PATTERN = re.compile(r"[^\s/]{1,128}")

# Bytes 24-27 of an SQLite file: the "file change counter", bumped by every committed
# write in rollback-journal mode (ours). With mtime it catches two changes in one mtime tick.
_CHANGE_COUNTER = slice(24, 28)

# The identity of the token file's contents as last seen: (inode, mtime, size, counter).
Stamp = tuple[int, int, int, bytes]


class Role(enum.StrEnum):
    """What a token may do. Admin may do everything."""

    ADMIN = "admin"
    OPERATOR = "operator"  # alerts, reads, wanted plates; watches cameras
    TECHNICIAN = "technician"  # cameras: PTZ, diagnose, reboot, maintenance
    PARTNER = "partner"  # another hub: read-only, granted cameras only
    SENSOR = "sensor"  # an ALPR unit or gateway: posts reads, nothing else


class TokenError(HubError):
    """A token could not be created, changed or found, or the token file is unusable."""


class TokenInputError(TokenError):
    """The request itself was refused (invalid name or camera id, no such token, a name
    taken, grants on a token that is not a partner's): retrying the same will not help."""


@dataclass(frozen=True)
class Principal:
    """The caller behind a token."""

    name: str
    role: Role
    # Cameras a partner was granted; None means every camera (every other role).
    cameras: frozenset[str] | None = None
    key: str = ""  # the token's hash: finds the current grants again (never the token)

    def sees_camera(self, camera_id: str) -> bool:
        return self.cameras is None or camera_id in self.cameras


@dataclass(frozen=True)
class TokenInfo:
    """A stored token, as listed (no secret, no hash)."""

    name: str
    role: Role
    cameras: tuple[str, ...]
    created_at: datetime


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """`name` if it is a valid token name, else TokenError."""
    if not NAME_PATTERN.fullmatch(name):
        raise TokenInputError("a token name is 1-64 letters, digits or . _ @ - "
                         "(starting with a letter or digit)")
    return name


def check_cameras(cameras: Iterable[str]) -> list[str]:
    """Camera ids, sorted and without duplicates, or TokenError on an invalid one."""
    out = sorted(set(cameras))
    for camera in out:
        if not CAMERA_PATTERN.fullmatch(camera):
            raise TokenInputError(f"not a camera id: {camera!r}")
    return out


_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    name TEXT NOT NULL REFERENCES tokens(name) ON DELETE CASCADE,
    camera TEXT NOT NULL,
    PRIMARY KEY (name, camera)
);
"""


class TokenStore:
    """The token table of one data directory (small, synchronous: CLI and reloads only).

    Reading never creates the file: a mistyped --data-dir lists nothing instead of
    leaving an empty token store behind."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / TOKENS_FILE

    def _connect(self) -> sqlite3.Connection:
        """A writable connection; creates the directory and file when missing."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise TokenError(f"cannot open {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA foreign_keys = ON")
            db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            db.close()
            raise TokenError(f"cannot open {self.path}: {exc}") from exc
        with contextlib.suppress(OSError):
            os.chmod(self.path, 0o600)  # hashes only, but nobody else's business
        return db

    def _read_only(self) -> sqlite3.Connection | None:
        """A read-only connection, or None when there is no token file (no tokens)."""
        if not self.path.exists():
            return None
        try:
            return sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True,
                                   timeout=5.0)
        except sqlite3.Error as exc:
            raise TokenError(f"cannot read {self.path}: {exc}") from exc

    def create(self, name: str, role: Role, cameras: Iterable[str] = ()) -> str:
        """Store a new token; returns the token (the only time it is known)."""
        check_name(name)
        granted = check_cameras(cameras)
        if role is Role.PARTNER and not granted:
            raise TokenInputError("a partner token needs --cameras (the cameras it is granted)")
        if role is not Role.PARTNER and granted:
            raise TokenInputError("only partner tokens have camera grants")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with contextlib.closing(self._connect()) as db:
            try:
                with db:
                    db.execute(
                        "INSERT INTO tokens (name, hash, role, created_at) VALUES (?, ?, ?, ?)",
                        (name, token_hash(token), role.value, datetime.now(UTC).isoformat()),
                    )
                    db.executemany("INSERT INTO grants (name, camera) VALUES (?, ?)",
                                   [(name, c) for c in granted])
            except sqlite3.IntegrityError as exc:
                raise TokenInputError(f"a token named {name!r} exists already") from exc
            except sqlite3.Error as exc:
                raise TokenError(f"cannot store the token: {exc}") from exc
        return token

    def revoke(self, name: str) -> None:
        """Delete a token: it stops working at once (running hubs within RELOAD_CHECK_S)."""
        self._change(name, "DELETE FROM tokens WHERE name = ?", [(name,)])

    def grant(self, name: str, cameras: Iterable[str]) -> None:
        """Add cameras to a partner token's grants."""
        self._change(name, "INSERT OR IGNORE INTO grants (name, camera) VALUES (?, ?)",
                     [(name, c) for c in check_cameras(cameras)], partner_only=True)

    def ungrant(self, name: str, cameras: Iterable[str]) -> None:
        """Take cameras away from a partner token (a partner with no grants sees nothing)."""
        self._change(name, "DELETE FROM grants WHERE name = ? AND camera = ?",
                     [(name, c) for c in check_cameras(cameras)], partner_only=True)

    def _change(self, name: str, sql: str, rows: list[tuple[str, ...]],
                partner_only: bool = False) -> None:
        if not self.path.exists():
            raise TokenInputError(f"no token named {name!r} (no tokens in {self.path.parent})")
        with contextlib.closing(self._connect()) as db:
            try:
                with db:  # one transaction: the check and the change see the same tokens
                    row = db.execute("SELECT role FROM tokens WHERE name = ?", (name,)).fetchone()
                    if row is None:
                        raise TokenInputError(f"no token named {name!r}")
                    if partner_only and row[0] != Role.PARTNER.value:
                        raise TokenInputError(f"{name!r} is a {row[0]} token: only partner tokens "
                                         "have camera grants")
                    db.executemany(sql, rows)
            except sqlite3.Error as exc:
                raise TokenError(f"cannot change token {name!r}: {exc}") from exc

    def list(self) -> list[TokenInfo]:
        """Every stored token, by name."""
        db = self._read_only()
        if db is None:
            return []
        with contextlib.closing(db):
            try:
                grants: dict[str, list[str]] = {}
                for name, camera in db.execute("SELECT name, camera FROM grants ORDER BY camera"):
                    grants.setdefault(name, []).append(camera)
                rows = db.execute("SELECT name, role, created_at FROM tokens ORDER BY name")
                return [TokenInfo(n, Role(r), tuple(grants.get(n, ())), datetime.fromisoformat(c))
                        for n, r, c in rows]
            except (sqlite3.Error, ValueError) as exc:
                raise TokenError(f"cannot read {self.path}: {exc}") from exc

    def principals(self) -> dict[str, Principal]:
        """Token hash -> principal, for the API's lookups."""
        db = self._read_only()
        if db is None:
            return {}
        with contextlib.closing(db):
            try:
                grants: dict[str, set[str]] = {}
                for name, camera in db.execute("SELECT name, camera FROM grants"):
                    grants.setdefault(name, set()).add(camera)
                out: dict[str, Principal] = {}
                for name, digest, role in db.execute("SELECT name, hash, role FROM tokens"):
                    r = Role(role)
                    cams = frozenset(grants.get(name, ())) if r is Role.PARTNER else None
                    out[digest] = Principal(name, r, cams, digest)
                return out
            except (sqlite3.Error, ValueError) as exc:
                raise TokenError(f"cannot read {self.path}: {exc}") from exc

    def stamp(self) -> Stamp | None:
        """What identifies the file's contents: changes with every committed change; None
        when there is no file. TokenError when the file exists but cannot be examined."""
        try:
            st = self.path.stat()
            with self.path.open("rb") as file:
                header = file.read(_CHANGE_COUNTER.stop)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TokenError(f"cannot read {self.path}: {exc.strerror or exc}") from exc
        return st.st_ino, st.st_mtime_ns, st.st_size, header[_CHANGE_COUNTER]


class TokenAuthority:
    """Answers "who is this token?" for the API, from the token store plus an optional
    bootstrap token (`serve --token`, the demo's one-off token) that acts as admin.

    `start()` watches the store for changes (tokens created or revoked, grants changed by
    the CLI) and wakes `changes()` subscribers so open streams re-check their caller. A
    token file that becomes unreadable or corrupt is reported once and the tokens known
    before stay in force (a hub must not lock everybody out, or let everybody in, because
    of a bad file); a deleted file means no stored tokens."""

    def __init__(self, store: TokenStore | None = None, bootstrap: str | None = None) -> None:
        self._store = store
        self._bootstrap = token_hash(bootstrap) if bootstrap else None
        self._principals: dict[str, Principal] = {}
        self._stamp: Stamp | None = None
        self._last_error = ""  # reported once, not every RELOAD_CHECK_S
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.version = 0  # bumped on every reload that changed something
        if store is not None:
            self._apply(self._read_store(None))  # a broken file at start: TokenError to the caller

    def authenticate(self, token: str) -> Principal | None:
        """The principal of `token`, or None (unknown, revoked or empty)."""
        if not token:
            return None
        digest = token_hash(token)
        if self._bootstrap is not None and hmac.compare_digest(digest, self._bootstrap):
            return Principal("hub", Role.ADMIN, None, digest)
        return self._principals.get(digest)

    def current(self, principal: Principal) -> Principal | None:
        """The same caller with its grants as they are now; None once revoked."""
        if self._bootstrap is not None and principal.key == self._bootstrap:
            return principal
        return self._principals.get(principal.key)

    @property
    def error(self) -> str:
        """Why the token file could not be read at the last check ("" when it could)."""
        return self._last_error

    async def start(self) -> None:
        if self._store is not None and self._task is None:
            self._task = asyncio.create_task(self._watch(), name="token-store-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def changes(self) -> AsyncIterator[int]:
        """Yields the new version after every change from now on (the call, not the first
        iteration: a change in between is not missed), until closed or cancelled."""
        return self._changes_since(self.version)

    async def _changes_since(self, seen: int) -> AsyncIterator[int]:
        while True:
            if self.version == seen:
                self._changed.clear()
                await self._changed.wait()
            seen = self.version
            yield seen

    async def reload(self) -> bool:
        """Look at the store now; True when the tokens changed. A file that cannot be read
        keeps the previous tokens (logged once per distinct problem)."""
        if self._store is None:
            return False
        try:
            # A small SQLite read, in a thread: the event loop never waits on the disk.
            fresh = await asyncio.to_thread(self._read_store, self._stamp)
        except TokenError as exc:
            if str(exc) != self._last_error:
                log.error("tokens: keeping the %d tokens known before: %s",
                          len(self._principals), exc)
                self._last_error = str(exc)
            return False
        if self._last_error:
            log.info("tokens: %s is readable again", self._store.path)
            self._last_error = ""
        return self._apply(fresh)

    def _read_store(self, known: Stamp | None
                    ) -> tuple[Stamp | None, dict[str, Principal]] | None:
        """(stamp, principals) of the store, or None when its stamp is still `known`."""
        assert self._store is not None
        stamp = self._store.stamp()
        if stamp == known:
            return None
        principals = self._store.principals() if stamp is not None else {}
        # A write between stamp() and principals() gives a new stamp: read again next time.
        return stamp, principals

    def _apply(self, fresh: tuple[Stamp | None, dict[str, Principal]] | None) -> bool:
        if fresh is None:
            return False
        self._stamp, principals = fresh
        if principals == self._principals:
            return False
        self._principals = principals
        self.version += 1
        self._changed.set()
        log.info("tokens: %d tokens in force", len(principals))
        return True

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_CHECK_S)
            await self.reload()
