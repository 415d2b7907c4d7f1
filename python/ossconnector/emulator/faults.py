"""On-demand fault injection: one-shot, counted, deterministic.

Contract:
- A :class:`FaultSpec` describes one fault and the requests it matches.  All
  given filters must match: ``method`` (``GET``...), ``op`` (operation name
  such as ``GetObject``, ``PutObject``, ``UploadPart``,
  ``CompleteMultipartUpload``, ``HeadObject``, ``ListObjects``...),
  ``bucket``, ``key`` (exact), ``key_prefix`` and ``part_number``.
- ``count`` is how many matching requests it affects; each affected request
  consumes one, and the fault disappears at zero.  Admin requests never match.
- Kinds:

  ``error``    answer ``status`` (500/503/429/...) with OSS error ``code``
               instead of performing the operation (nothing is stored);
  ``delay``    sleep ``delay`` seconds before the first response byte (the
               request is then served normally);
  ``hold``     keep the request waiting before it runs until the test calls
               ``release()`` (or ``delay`` seconds pass: a safety cap,
               default 120), then serve it normally; ``held()`` says how many
               wait now, so a test acts while a request is known to be in
               flight (replace the object it reads, kill a process) without
               racing a timer;
  ``reset``    send headers and ``after_bytes`` body bytes, then reset the TCP
               connection (RST);
  ``truncate`` send headers (with the full Content-Length) and
               ``after_bytes`` body bytes, then close the connection (FIN);
  ``corrupt``  flip (XOR 0xFF) ``length`` body bytes starting at body offset
               ``offset``; headers, length and CRC header stay unchanged.

  ``error``/``delay`` are taken before the operation runs; the body kinds
  (``reset``/``truncate``/``corrupt``) only on responses that carry a body
  (GET of an object, or a listing page: ``BODY_FAULT_OPS``) and are not
  consumed by other requests;
  :func:`apply_body_fault` wraps such a body accordingly.
- :class:`FaultControls` is the convenience API (``error()``, ``reset()``,
  ``fail_complete()``...) shared by the in-server registry and remote clients;
  subclasses implement ``add_spec(dict) -> id``, ``clear()`` and ``list()``.
"""

import itertools
import threading
from dataclasses import asdict, dataclass, fields

from .bodies import ConnectionAbort, iter_body

KINDS = ("error", "delay", "hold", "reset", "truncate", "corrupt")
HOLD_CAP_S = 120.0
BODY_KINDS = ("reset", "truncate", "corrupt")
BODY_FAULT_OPS = ("GetObject", "ListObjects", "ListObjectsV2")
DEFAULT_CODES = {429: "TooManyRequests", 500: "InternalError", 502: "BadGateway",
                 503: "ServiceUnavailable", 504: "GatewayTimeout"}


@dataclass
class FaultSpec:
    kind: str
    count: int = 1
    method: str | None = None
    op: str | None = None
    bucket: str | None = None
    key: str | None = None
    key_prefix: str | None = None
    part_number: int | None = None
    status: int = 500
    code: str | None = None
    message: str | None = None
    delay: float = 0.0
    after_bytes: int = 0
    offset: int = 0
    length: int = 1
    id: int | None = None

    @classmethod
    def from_dict(cls, data):
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError("unknown fault fields: %s" % ", ".join(sorted(unknown)))
        spec = cls(**data)
        spec.validate()
        return spec

    def validate(self):
        if self.kind not in KINDS:
            raise ValueError("kind must be one of %s" % (KINDS,))
        if int(self.count) < 1:
            raise ValueError("count must be >= 1")
        if self.after_bytes < 0 or self.offset < 0 or self.length < 1 or self.delay < 0:
            raise ValueError("after_bytes/offset/delay must be >= 0 and length >= 1")
        if self.method:
            self.method = self.method.upper()

    def to_dict(self):
        return asdict(self)

    def error_code(self):
        return self.code or DEFAULT_CODES.get(self.status, "InternalError")

    def matches(self, ctx):
        if self.method and self.method != ctx.get("method"):
            return False
        if self.op and self.op != ctx.get("op"):
            return False
        if self.bucket is not None and self.bucket != ctx.get("bucket"):
            return False
        if self.key is not None and self.key != ctx.get("key"):
            return False
        if self.key_prefix is not None and not (ctx.get("key") or "").startswith(self.key_prefix):
            return False
        if self.part_number is not None and self.part_number != ctx.get("part_number"):
            return False
        return True


class FaultControls:
    """Convenience constructors; every method returns the new fault's id."""

    def add(self, kind, **options):
        spec = dict(options, kind=kind)
        FaultSpec.from_dict(spec)  # validate early, on the caller's side
        return self.add_spec(spec)

    def error(self, status=500, count=1, code=None, **match):
        return self.add("error", status=status, count=count, code=code, **match)

    def delay(self, seconds, count=1, **match):
        return self.add("delay", delay=float(seconds), count=count, **match)

    def hold(self, count=1, cap_s=HOLD_CAP_S, **match):
        return self.add("hold", delay=float(cap_s), count=count, **match)

    def reset(self, after_bytes=0, count=1, **match):
        return self.add("reset", after_bytes=after_bytes, count=count, **match)

    def truncate(self, after_bytes=0, count=1, **match):
        return self.add("truncate", after_bytes=after_bytes, count=count, **match)

    def corrupt(self, offset=0, length=1, count=1, **match):
        return self.add("corrupt", offset=offset, length=length, count=count, **match)

    def fail_complete(self, status=500, count=1, code=None, **match):
        return self.add("error", op="CompleteMultipartUpload", status=status, count=count, code=code, **match)

    def fail_part(self, status=500, count=1, code=None, part_number=None, **match):
        return self.add("error", op="UploadPart", status=status, count=count, code=code,
                        part_number=part_number, **match)

    # transport-specific
    def add_spec(self, spec):
        raise NotImplementedError

    def held(self):
        """How many requests a ``hold`` fault keeps waiting now."""
        raise NotImplementedError

    def release(self):
        """Lets every held request go on."""
        raise NotImplementedError

    def clear(self):
        raise NotImplementedError

    def list(self):
        raise NotImplementedError


class FaultRegistry(FaultControls):
    """Thread-safe in-server list of pending faults."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._ids = itertools.count(1)
        self._released = threading.Condition(self._lock)
        self._release_gen = 0
        self._held = 0

    def held(self):
        with self._lock:
            return self._held

    def release(self):
        with self._lock:
            self._release_gen += 1
            self._released.notify_all()

    def hold_here(self, ctx):
        """Takes a ``hold`` fault matching ``ctx``, if one is pending, and
        waits until release() (or its cap)."""
        with self._lock:
            gen = self._release_gen
        fault = self.take(ctx, ("hold",))
        if fault is None:
            return
        with self._lock:
            self._held += 1
            try:
                self._released.wait_for(lambda: self._release_gen != gen,
                                        timeout=fault.delay or HOLD_CAP_S)
            finally:
                self._held -= 1

    def add_spec(self, spec):
        fault = spec if isinstance(spec, FaultSpec) else FaultSpec.from_dict(dict(spec))
        fault.validate()
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault.id

    def clear(self):
        with self._lock:
            self._faults.clear()
            self._release_gen += 1  # nothing stays held past a test
            self._released.notify_all()

    def list(self):
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, ctx, kinds):
        """Consume one count of the first pending fault of ``kinds`` matching ``ctx``."""
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(ctx):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return FaultSpec(**{**fault.to_dict(), "count": 1})
        return None


def _corrupting(chunks, offset, length):
    pos = 0
    end = offset + length
    for chunk in chunks:
        lo, hi = max(offset, pos), min(end, pos + len(chunk))
        if lo < hi:
            buf = bytearray(chunk)
            for i in range(lo - pos, hi - pos):
                buf[i] ^= 0xFF
            chunk = bytes(buf)
        pos += len(chunk)
        yield chunk


def _cutting(chunks, after_bytes, reset):
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) >= after_bytes:
            if after_bytes - sent > 0:
                yield chunk[:after_bytes - sent]
            break
        sent += len(chunk)
        yield chunk
    raise ConnectionAbort(reset=reset)


def apply_body_fault(body, fault):
    """Wrap a body (bytes/FileRange/iterable) so that it misbehaves as ``fault`` says."""
    chunks = iter_body(body)
    if fault.kind == "corrupt":
        return _corrupting(chunks, fault.offset, fault.length)
    return _cutting(chunks, fault.after_bytes, fault.kind == "reset")
