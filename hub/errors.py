"""Exception tree of the hub package."""

from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """A hub config or endpoints file is invalid; the message names file, line and field."""


class StoreError(HubError):
    """The SQLite store could not be opened or written (full disk, permissions, corruption)."""


class AlprError(HubError):
    """Base of the licence-plate errors (hotlists, search, wanted plates, alerts)."""


class HotlistError(AlprError):
    """A hotlist file cannot be used; the message names the file and, where known, line."""


class SearchPatternError(AlprError):
    """A read-search pattern cannot be searched with the index (too short, bad characters)."""


class WantedPlateError(AlprError):
    """A wanted plate was refused (empty or invalid plate, expiry outside 1-100 days)."""


class AlertTransitionError(AlprError):
    """An alert cannot make the asked move (not allowed from its state, reject without
    reason, unknown alert)."""


class CameraActionError(HubError):
    """An on-demand camera action (snapshot, PTZ, reboot, diagnose, events) failed; the
    message names the camera and the action, never credentials."""


class CameraNotSupported(CameraActionError):
    """The camera cannot do the action at all (not a PTZ camera, no event service):
    retrying will not help."""
