#!/usr/bin/env python3
"""``localbucket`` (PyPI) with a thin adapter so that OSS clients can use it.

localbucket is a small S3-compatible server that keeps buckets as plain
folders on disk, answers ListObjects(V2), GET/HEAD with ``Range``, PUT and
multipart, and checks no credentials, so OSS V1/V4 and AWS SigV4 signatures
all pass.  What OSS clients need besides, added here by subclassing its
request handler (nothing of localbucket is copied or patched on disk):

* **virtual-hosted buckets**: with ``--domain D``, a request for
  ``Host: <bucket>.D[:port]`` is served as the path-style ``/<bucket>/...``
  (the product's binary only addresses buckets that way);
* **OSS query parameters**: ``HEAD ?objectMeta`` (the product's binary asks
  for an object's size that way) is answered as HeadObject, and oss2's
  ``fetch-owner`` on ListObjectsV2 is ignored (no owner is listed), and an
  empty ``continuation-token=`` (oss2's first page) means none;
* **OSS-shaped XML**: no namespace and a ``<Type>Normal</Type>`` per listed
  object, like OSS sends (oss2 looks up ``IsTruncated``, ``Contents``...
  without a namespace and requires ``Type``; boto3 and the engine accept
  both);
  ``--s3-xml`` keeps the S3 namespace;
* **throughput**: object bodies go out with ``sendfile(2)`` instead of
  1 MiB ``read``/``write`` rounds in Python; the ETag is derived from the
  file's identity, size and mtime instead of an MD5 over the whole file on
  first access; a listing looks at the folder of its prefix once, when it
  starts (a request with neither ``continuation-token`` nor ``start-after``
  nor ``marker``), re-reading only sub-folders whose mtime changed (a file
  rewritten in place, without a rename, is listed with its old size until
  its folder changes), and serves the pages from a sorted key list with the
  XML of every key kept, instead of walking and sorting the whole bucket
  and stat-ing every listed key for every page of 1,000.  The server must
  not be the bottleneck of a client benchmark.

For scenarios that need them (broadcast): ``--crc64-json FILE`` (a JSON
object ``{"bucket/key": CRC-64/ECMA}``) adds ``x-oss-hash-crc64ecma`` to the
GET and HEAD replies of those objects, as OSS sends it; ``--bytes-file FILE``
keeps the count of object body bytes sent so far in FILE (rewritten at
most every 50 ms while it changes, and at exit): the bytes pulled from "OSS".

Nothing of localbucket is copied or changed on disk: the handler is
subclassed and ``object_etag`` replaced in the running module.

    python3 scripts/bench/infra/localbucket_oss.py --port 9000 --domain localbucket.test DATA_ROOT
    python3 scripts/bench/infra/localbucket_oss.py --crc64-json crc.json --bytes-file sent DATA_ROOT
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import logging
import os
import re
import sys
import threading
import xml.etree.ElementTree as ET
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import localbucket as lb

OSS_IGNORED_QUERY = {"objectMeta", "fetch-owner"}
EMPTY_MEANS_ABSENT = ("continuation-token", "start-after", "marker", "delimiter")


def _etag_of(st: os.stat_result) -> str:
    sig = f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()
    return hashlib.md5(sig).hexdigest()


def _fast_etag(path: Path) -> str:
    return _etag_of(path.stat())


class _KeyIndex:
    """The objects under one folder of a bucket (the folder part of the
    listed prefix), sorted: keys as bytes for bisecting, and per key the
    strings a listing shows (LastModified, ETag, Size), kept between
    listings for files whose identity, size and mtime have not changed."""

    def __init__(self):
        self.lock = threading.Lock()
        self.cache: dict[tuple[Path, str], tuple[list[bytes], list[tuple]]] = {}
        self.shown: dict[str, tuple[tuple, tuple[str, str, str]]] = {}
        self.fragments: dict[tuple[str, bool, bool], tuple[tuple, str]] = {}
        self.dirs: dict[str, tuple[int, list[str], list[tuple]]] = {}

    def fragment(self, path: Path, key: str, shown: tuple, url: bool, oss: bool) -> str:
        """``<Contents>...</Contents>`` of one key, kept while the file's
        listed strings are unchanged."""
        k = (str(path), url, oss)
        hit = self.fragments.get(k)
        if hit is None or hit[0] is not shown:
            last_modified, etag, size = shown
            name = quote(key, safe="/") if url else key
            text = (f"<Contents><Key>{xml_escape(name)}</Key><LastModified>{last_modified}"
                    f"</LastModified><ETag>{xml_escape(etag)}</ETag><Size>{size}</Size>"
                    f"<StorageClass>STANDARD</StorageClass>"
                    f"{'<Type>Normal</Type>' if oss else ''}</Contents>")
            hit = (shown, text)
            self.fragments[k] = hit
        return hit[1]

    def _walk(self, top: str, cut: int, out: list, changed: list) -> None:
        """Appends (key bytes, path, shown) of every file under ``top``; a
        folder whose mtime is unchanged since it was last read is not read
        again (files added, removed or renamed into it change its mtime;
        a file rewritten in place is not noticed until then)."""
        try:
            mtime = os.stat(top).st_mtime_ns
        except OSError:
            return
        hit = self.dirs.get(top)
        if hit is None or hit[0] != mtime:
            subdirs, files = [], []
            with os.scandir(top) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        subdirs.append(e.path)
                    elif e.is_file(follow_symlinks=False) and \
                            not e.name.startswith(lb.TEMP_PREFIX):
                        st = e.stat(follow_symlinks=False)
                        sig = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                        shown = self.shown.get(e.path)
                        if shown is None or shown[0] != sig:
                            shown = (sig, (lb.iso_timestamp(st.st_mtime),
                                           f'"{_etag_of(st)}"', str(st.st_size)))
                            self.shown[e.path] = shown
                        files.append((e.path[cut:].encode(), e.path, shown[1]))
            hit = (mtime, subdirs, files)
            self.dirs[top] = hit
            changed.append(top)
        out.extend(hit[2])
        for d in hit[1]:
            self._walk(d, cut, out, changed)

    def get(self, bucket_dir: Path, prefix: str, fresh: bool):
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        with self.lock:
            hit = self.cache.get((bucket_dir, folder))
        if hit is not None and not fresh:
            return hit
        keys: list = []
        changed: list = []
        with self.lock:   # one walk at a time keeps the caches consistent
            self._walk(str(bucket_dir / folder), len(str(bucket_dir)) + 1, keys, changed)
        if hit is not None and not changed and len(keys) == len(hit[0]):
            return hit
        keys.sort()
        hit = ([k for k, _, _ in keys], [(k.decode(), (Path(p), shown)) for k, p, shown in keys])
        with self.lock:
            self.cache[(bucket_dir, folder)] = hit
        return hit


INDEX = _KeyIndex()
_PLACEHOLDER = "LocalBucketOssEntries"


class OssHandler(lb.S3Handler):
    """localbucket's handler plus virtual hosts, OSS query parameters,
    namespace-free XML and sendfile."""

    server_version = "LocalBucket-OSS"
    domain_re: re.Pattern | None = None
    s3_xml = False

    # -- request routing ---------------------------------------------------

    def _dispatch(self, action):
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        if self.domain_re is not None:
            m = self.domain_re.match(host)
            if m:
                self.path = "/" + m.group(1) + (self.path if self.path.startswith("/")
                                                 else "/" + self.path)
        super()._dispatch(action)

    def _check_query(self, operation, allowed=frozenset()):
        for name in OSS_IGNORED_QUERY:
            self.query.pop(name, None)
        for name in EMPTY_MEANS_ABSENT:   # oss2 sends continuation-token= on page one
            if self.query.get(name) == "":
                del self.query[name]
        super()._check_query(operation, allowed)

    # -- responses -----------------------------------------------------------

    def _send_xml(self, root: ET.Element):
        if not self.s3_xml:
            root.attrib.pop("xmlns", None)
        body = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
        entries, self._entries_xml = getattr(self, "_entries_xml", b""), b""
        body = body.replace(f"<{_PLACEHOLDER} />".encode(), entries, 1)
        self._send(HTTPStatus.OK, body, {"Content-Type": "application/xml"})

    def _add_list_entries(self, root, contents, common_prefixes, encode):
        """As localbucket's, but from XML fragments the key index keeps per
        key (no stat, ETag or element building per listed key), plus OSS's
        ``<Type>``: a placeholder element that :meth:`_send_xml` replaces."""
        url = self.query.get("encoding-type") == "url"
        parts = [INDEX.fragment(path, key, shown, url, not self.s3_xml)
                 for key, (path, shown) in contents]
        parts += [f"<CommonPrefixes><Prefix>{xml_escape(encode(c))}</Prefix></CommonPrefixes>"
                  for c in common_prefixes]
        self._entries_xml = "".join(parts).encode()
        ET.SubElement(root, _PLACEHOLDER)

    def _send_file(self, status, file, start, length, headers, include_body):
        if CRC64:
            crc = CRC64.get(os.path.relpath(file.name, self.data_root))
            if crc is not None:
                headers = {**(headers or {}), "x-oss-hash-crc64ecma": str(crc)}
        self._send_headers(status, length, headers)
        if not include_body or length == 0:
            return
        sent = self.connection.sendfile(file, start, length)
        if SENT is not None:
            SENT.add(sent)
        if sent != length:
            self.close_connection = True

    def _list_entries(self, bucket_dir, prefix, delimiter, marker, marker_is_prefix,
                      max_keys):
        fresh = not marker and not any(
            name in self.query for name in ("continuation-token", "start-after", "marker"))
        encoded, keys = INDEX.get(bucket_dir, prefix, fresh)
        contents, common_prefixes = [], []
        last_entry, truncated = "", False
        start = bisect.bisect_left(encoded, prefix.encode())
        if marker:
            start = max(start, bisect.bisect_right(encoded, marker.encode()))
        for i in range(start, len(keys)):
            key, path = keys[i]
            if not key.startswith(prefix):
                break
            if marker_is_prefix and key.startswith(marker):
                continue
            common = ""
            if delimiter:
                index = key.find(delimiter, len(prefix))
                if index >= 0:
                    common = key[: index + len(delimiter)]
            if common and common_prefixes and common_prefixes[-1] == common:
                continue
            if len(contents) + len(common_prefixes) >= max_keys:
                truncated = max_keys > 0
                break
            if common:
                common_prefixes.append(common)
                last_entry = "P:" + common
            else:
                contents.append((key, path))
                last_entry = "K:" + key
        return contents, common_prefixes, truncated, last_entry


class _SentCounter:
    """Object body bytes sent, kept in a file by a thread (at most every
    50 ms while the count changes) so that another process can read it."""

    def __init__(self, path: Path):
        self.path, self.n, self.lock = path, 0, threading.Lock()
        self.write(0)
        threading.Thread(target=self._loop, daemon=True).start()

    def add(self, n: int) -> None:
        with self.lock:
            self.n += n

    def write(self, n: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(f"{n}\n")
        os.replace(tmp, self.path)

    def _loop(self) -> None:
        shown = 0
        while True:
            threading.Event().wait(0.05)
            n = self.n
            if n != shown:
                self.write(n)
                shown = n


CRC64: dict[str, int] = {}          # "bucket/key" -> CRC-64/ECMA (--crc64-json)
SENT: _SentCounter | None = None    # --bytes-file


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data_root", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--domain", help="serve <bucket>.DOMAIN as a virtual-hosted bucket")
    p.add_argument("--s3-xml", action="store_true", help="keep the S3 XML namespace")
    p.add_argument("--log", action="store_true", help="log every request to stderr")
    p.add_argument("--crc64-json", type=Path,
                   help='{"bucket/key": crc64}: sent as x-oss-hash-crc64ecma')
    p.add_argument("--bytes-file", type=Path, help="keep the body bytes sent in this file")
    args = p.parse_args(argv)
    global SENT
    if args.crc64_json:
        CRC64.update({k: int(v) for k, v in json.loads(args.crc64_json.read_text()).items()})
    if args.bytes_file:
        SENT = _SentCounter(args.bytes_file)
    logging.basicConfig(level=logging.INFO if args.log else logging.WARNING,
                        format="%(asctime)s %(message)s", stream=sys.stderr)
    lb.object_etag = _fast_etag  # looked up as a module global by the handler
    root = args.data_root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    OssHandler.data_root = root
    OssHandler.s3_xml = args.s3_xml
    if args.domain:
        OssHandler.domain_re = re.compile(
            r"^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\." + re.escape(args.domain.lower()) + "$")
    server = _Server((args.host, args.port), OssHandler)
    print(f"localbucket {lb.__version__} (OSS adapter) on http://{args.host}:"
          f"{server.server_address[1]} serving {root}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if SENT is not None:
            SENT.write(SENT.n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
