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


class ApiClientError(HubError):
    """Base of the errors of a client of a hub's HTTP API (the remote TUI, `--connect`).
    Messages name the hub's URL, never the token."""


class HubUnreachable(ApiClientError):
    """The hub could not be reached or stopped answering (connection refused, DNS, TLS,
    timeout, connection lost): retrying later may help."""


class ApiAuthError(ApiClientError):
    """The hub refused the token (401): missing, wrong or revoked."""


class ApiForbidden(ApiClientError):
    """The token's role may not do this (403)."""


class ApiNotFound(ApiClientError):
    """No such thing on the hub (404), or a camera the caller was not granted."""


class ApiRequestError(ApiClientError):
    """Any other refusal of the hub: `status` is the HTTP status, the message the hub's
    {"error"} text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiShapeError(HubError):
    """A JSON object from the hub API lacks a field or has one of the wrong type (a hub of
    another version, a broken proxy); the message names the shape and the field."""


class EvidenceError(HubError):
    """An evidence bundle cannot be made or checked (unknown alert or camera, bad time
    range, not a bundle); the message says which."""


class ClipError(EvidenceError):
    """A clip could not be recorded from a camera's stream; the message names the stream
    without credentials."""


class EvidenceNotFound(EvidenceError):
    """The alert or camera to export does not exist (or is not the caller's to see)."""
