"""Exception tree of the drivers package.

Drivers convert every third-party exception (aiohttp, zeep, lxml, asyncio timeouts, ...)
into one of these at their boundary, so callers (the hub) branch on a small, stable set of
types and never import a protocol library to catch its errors. The original exception is
kept as ``__cause__`` (``raise X(...) from exc``).

Messages never contain credentials.
"""

from __future__ import annotations


class DriverError(Exception):
    """Base of every error a driver raises on purpose."""


class OnvifError(DriverError):
    """An ONVIF request failed.

    ``operation`` is the SOAP action that failed (e.g. ``"GetProfiles"``) when known,
    ``device`` the device URL without credentials.
    """

    def __init__(
        self, message: str, *, operation: str | None = None, device: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.device = device


class OnvifUnreachable(OnvifError):
    """No connection: refused, DNS failure, host unreachable, connection dropped."""


class OnvifAuthError(OnvifError):
    """Credentials rejected (ter:NotAuthorized fault or HTTP 401)."""


class OnvifTimeout(OnvifError):
    """The device accepted the connection (or not) but did not answer in time."""


class OnvifProtocolError(OnvifError):
    """The device answered, but not usefully: malformed XML, unexpected fault, missing fields.

    For SOAP faults, ``fault_code`` is the fault's Code value and ``fault_subcodes`` the local
    names of its subcodes (``("ActionNotSupported",)``), so callers can tell "not supported"
    from other failures without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        device: str | None = None,
        fault_code: str | None = None,
        fault_subcodes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, operation=operation, device=device)
        self.fault_code = fault_code
        self.fault_subcodes = fault_subcodes

    @property
    def not_supported(self) -> bool:
        """True when the fault says the device does not implement the action."""
        return any(
            code in ("ActionNotSupported", "NotSupported", "Action") for code in self.fault_subcodes
        )


class OnvifNotSupported(OnvifProtocolError):
    """The device lacks the service or the action asked for (no PTZ service, a PTZ dome
    that only moves continuously, ...): retrying cannot help."""

    @property
    def not_supported(self) -> bool:
        return True


class StreamError(DriverError):
    """Reading an RTSP stream failed (drivers/stream.py).

    ``url`` is the stream URL with its password redacted (``rtsp://user:***@host/path``).
    """

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.url = url


class StreamRefused(StreamError):
    """No connection: refused, host or network unreachable."""


class StreamAuthError(StreamError):
    """The server rejected the credentials (RTSP 401/403)."""


class StreamTimeout(StreamError):
    """The server did not answer (or send packets) within the allowed time."""


class StreamProtocolError(StreamError):
    """The server answered, but not usefully: bad SDP, no video, 404, corrupt data, ..."""


class AlprPayloadError(DriverError):
    """An ALPR read payload (JSON webhook or ONVIF event XML) is malformed.

    The message says what is wrong (not JSON, missing plate, bad time, ...) and is safe to
    return to the sender; it never quotes image data.
    """
