"""Exception tree of the hub package."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """A hub config or endpoints file is invalid; the message names file, line and field."""


class StoreError(HubError):
    """The SQLite store could not be opened or written (full disk, permissions, corruption)."""
