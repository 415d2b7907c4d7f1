"""Exceptions raised by ossconnector.

Each one is an :class:`OssError` (itself an :class:`OSSError`) and also the
built-in exception a Python user would expect, so ``except
FileNotFoundError`` keeps working.  ``errno``, ``http_status``,
``oss_code`` and ``request_id`` carry what the server said.
"""

from __future__ import annotations

import errno as _errno

__all__ = [
    "OssError",
    "OssNotFoundError",
    "OssPermissionError",
    "OssInvalidArgumentError",
    "OssConnectionError",
    "OssTimeoutError",
    "OssIntegrityError",
]


class OssError(OSError):
    """Any failure of the OSS engine."""

    def __init__(self, code, message=None, *, http_status=0, oss_code="", request_id=""):
        if message is None:  # OssError("text"): how DataLoader re-raises a worker's error
            code, message = _errno.EIO, str(code)
        super().__init__(code, message)
        self.http_status = http_status
        self.oss_code = oss_code
        self.request_id = request_id

    def __str__(self):
        return self.strerror or super().__str__()


class OssNotFoundError(OssError, FileNotFoundError):
    """The object, bucket or file does not exist."""


class OssPermissionError(OssError, PermissionError):
    """Access denied, bad signature or credentials, or unreadable file."""


class OssInvalidArgumentError(OssError, ValueError):
    """A malformed URI, configuration, argument or request."""


class OssConnectionError(OssError, ConnectionError):
    """The endpoint cannot be resolved or reached."""


class OssTimeoutError(OssError, TimeoutError):
    """A transfer made no progress for too long."""


class OssIntegrityError(OssError):
    """Bytes received do not match what the server says it stores."""


_BY_ERRNO = {
    _errno.ENOENT: OssNotFoundError,
    _errno.EACCES: OssPermissionError,
    _errno.EPERM: OssPermissionError,
    _errno.EINVAL: OssInvalidArgumentError,
    _errno.ENAMETOOLONG: OssInvalidArgumentError,
    _errno.ECONNREFUSED: OssConnectionError,
    _errno.EHOSTUNREACH: OssConnectionError,
    _errno.ECONNRESET: OssConnectionError,
    _errno.ETIMEDOUT: OssTimeoutError,
}


def error_from_native(code, message, *, http_status=0, oss_code="", request_id="", context=""):
    """Builds the exception for an engine error (code is an errno value)."""
    if context and context not in message:  # the engine often names the object already
        message = f"{context}: {message}"
    cls = _BY_ERRNO.get(code, OssError)
    if cls is OssError and "CRC64 mismatch" in message:
        cls = OssIntegrityError
    return cls(code or _errno.EIO, message, http_status=http_status, oss_code=oss_code,
               request_id=request_id)
