"""Mapping between OSS request/response headers and stored object metadata.

Contract: metadata is stored the way moto does (``Content-Type`` and other
standard headers by name, user metadata as ``x-amz-meta-<name>``), so keys
written by moto and by the emulator look alike.  :func:`metadata_from_headers`
reads ``Content-Type`` (default ``application/octet-stream``), the standard
entity headers and ``x-oss-meta-*``; :func:`metadata_to_headers` yields the
response headers (``x-oss-meta-*`` for user metadata).
"""

STANDARD_HEADERS = ("Content-Type", "Content-Encoding", "Content-Disposition", "Cache-Control",
                    "Expires", "Content-Language")
_CANONICAL = {h.lower(): h for h in STANDARD_HEADERS}
OSS_META = "x-oss-meta-"
STORED_META = "x-amz-meta-"
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")


def metadata_from_headers(headers):
    meta = {"Content-Type": headers.get("content-type") or "application/octet-stream"}
    for low, name in _CANONICAL.items():
        if low != "content-type" and headers.get(low) is not None:
            meta[name] = headers.get(low)
    for low, value in headers.items_lower():
        if low.startswith(OSS_META) and len(low) > len(OSS_META):
            meta[STORED_META + low[len(OSS_META):]] = value
    return meta


def metadata_to_headers(metadata):
    out = []
    for name, value in metadata.items():
        low = name.lower()
        if low in _CANONICAL:
            out.append((_CANONICAL[low], str(value)))
        elif low.startswith(STORED_META):
            out.append((OSS_META + low[len(STORED_META):], str(value)))
    return out


def storage_class_from_headers(headers, default="Standard"):
    value = headers.get("x-oss-storage-class")
    if not value:
        return default
    for known in STORAGE_CLASSES:
        if known.lower() == value.strip().lower():
            return known
    from .errors import invalid_argument
    raise invalid_argument("Unsupported storage class.", "x-oss-storage-class", value)
