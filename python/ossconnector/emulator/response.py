"""The handler result type and small formatting helpers.

Contract: handlers return a :class:`Response`: integer ``status``, a list of
``(name, value)`` headers and a ``body`` that is bytes, a
:class:`~.bodies.FileRange` or any iterable of bytes.  ``content_length`` is
the announced length (defaults to ``len(body)`` for bytes); the application
adds request ids and the status reason.
"""

import calendar
import email.utils

from . import xmlgen

XML_TYPE = "application/xml"


class Response:
    def __init__(self, status=200, headers=None, body=b"", content_length=None):
        self.status = status
        self.headers = list(headers or [])
        self.body = body
        if content_length is None and isinstance(body, (bytes, bytearray)):
            content_length = len(body)
        self.content_length = content_length

    def add(self, name, value):
        self.headers.append((name, str(value)))
        return self

    def get(self, name):
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None


def xml_response(root, children, status=200, headers=None):
    body = xmlgen.document(root, children)
    resp = Response(status, headers, body)
    resp.add("Content-Type", XML_TYPE)
    return resp


def epoch_of(dt):
    """Seconds since the epoch for a (naive UTC or aware) datetime."""
    return calendar.timegm(dt.utctimetuple()) + dt.microsecond / 1e6


def http_date(dt):
    return email.utils.formatdate(int(epoch_of(dt)), usegmt=True)


def iso8601(dt):
    """OSS listing timestamp; milliseconds are always ``.000`` as OSS (and oss2) expect."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")
