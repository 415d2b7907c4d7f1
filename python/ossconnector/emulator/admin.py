"""Admin HTTP API under ``/_emulator`` (JSON, unauthenticated, path-style only).

Contract (all answers are JSON; errors are ``{"error": msg}`` with 4xx):

=======  ===============================  =========================================
GET      /_emulator/health                ``{"ok": true, "region", "domain", "pid"}``
GET      /_emulator/stats                 counters (see :mod:`.stats`)
POST     /_emulator/stats/reset           zero all counters
GET      /_emulator/faults                pending faults (list of FaultSpec dicts)
POST     /_emulator/faults                add one fault (object) or several (list)
                                          -> ``{"ids": [..]}``
DELETE   /_emulator/faults                drop all pending faults (and release held
                                          requests)
GET      /_emulator/faults/held           ``{"held": n}``: requests a hold fault keeps
POST     /_emulator/faults/release        let every held request go on
POST     /_emulator/buckets               ``{"name": b}`` create (idempotent)
DELETE   /_emulator/buckets/<b>           delete bucket with all its objects/uploads
PUT      /_emulator/objects/<b>/<key>     raw body -> object (unsigned upload helper;
                                          header ``X-Emulator-No-Crc64: 1``: replies
                                          about it carry no x-oss-hash-crc64ecma;
                                          ``X-Emulator-Etag: v``: its ETag is v, as
                                          other stores write theirs)
POST     /_emulator/sparse                ``{"bucket","key","size","markers"=true}``
                                          -> zero-filled sparse object
POST     /_emulator/reset                 delete every bucket, fault and counter
=======  ===============================  =========================================

Object helpers answer ``{"etag", "crc64", "size"}`` (crc64 as a decimal string).
"""

import json
import os
from urllib.parse import unquote

from .config import ADMIN_PREFIX
from .errors import OssError
from .faults import FaultSpec
from .payload import receive_body
from .request import OssRequest
from .response import Response
from .sparse import create_sparse_object


class AdminError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _json(status, payload):
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    return Response(status, [("Content-Type", "application/json")], body)


def _read_json(environ):
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length else b""
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise AdminError(400, "invalid JSON: %s" % exc)


class AdminApi:
    def __init__(self, app):
        self.app = app

    def handle(self, environ, path):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        route = path[len(ADMIN_PREFIX):] or "/"
        try:
            return self._route(environ, method, route)
        except AdminError as exc:
            return _json(exc.status, {"error": str(exc)})
        except OssError as exc:
            return _json(exc.status, {"error": "%s: %s" % (exc.code, exc.message)})
        except (ValueError, TypeError, KeyError) as exc:
            return _json(400, {"error": "%s: %s" % (type(exc).__name__, exc)})

    def _route(self, environ, method, route):
        app = self.app
        if route == "/health" and method == "GET":
            return _json(200, {"ok": True, "region": app.config.region, "domain": app.config.domain,
                               "pid": os.getpid()})
        if route == "/stats" and method == "GET":
            return _json(200, app.stats.snapshot())
        if route == "/stats/reset" and method == "POST":
            app.stats.reset()
            return _json(200, {"ok": True})
        if route == "/faults/held" and method == "GET":
            return _json(200, {"held": app.faults.held()})
        if route == "/faults/release" and method == "POST":
            app.faults.release()
            return _json(200, {"ok": True})
        if route == "/faults":
            if method == "GET":
                return _json(200, {"faults": app.faults.list()})
            if method == "DELETE":
                app.faults.clear()
                return _json(200, {"ok": True})
            if method == "POST":
                data = _read_json(environ)
                specs = data if isinstance(data, list) else [data]
                ids = [app.faults.add_spec(FaultSpec.from_dict(dict(s))) for s in specs]
                return _json(200, {"ids": ids})
        if route == "/buckets" and method == "POST":
            name = _read_json(environ)["name"]
            app.ensure_bucket(name)
            return _json(200, {"ok": True, "name": name})
        if route.startswith("/buckets/") and method == "DELETE":
            app.force_delete_bucket(unquote(route[len("/buckets/"):]))
            return _json(200, {"ok": True})
        if route.startswith("/objects/") and method == "PUT":
            bucket, _, key = unquote(route[len("/objects/"):]).partition("/")
            if not key:
                raise AdminError(400, "expected /_emulator/objects/<bucket>/<key>")
            req = OssRequest(dict(environ, PATH_INFO="/"), None)
            req.bucket, req.key = bucket, key
            app.store.get_bucket(bucket)
            payload = receive_body(req)
            from .metadata import metadata_from_headers
            no_crc = (req.header("x-emulator-no-crc64") or "").strip() == "1"
            etag = req.header("x-emulator-etag") or payload.md5
            app.store.install_object(bucket, key, payload.buffer, payload.size, etag, payload.crc64,
                                     metadata_from_headers(req.headers), crc_header=not no_crc)
            return _json(200, {"etag": etag, "crc64": str(payload.crc64), "size": payload.size})
        if route == "/sparse" and method == "POST":
            data = _read_json(environ)
            key = create_sparse_object(app.store, data["bucket"], data["key"], int(data["size"]),
                                       markers=bool(data.get("markers", True)),
                                       content_type=data.get("content_type", "application/octet-stream"))
            return _json(200, {"etag": key.etag.strip('"'), "crc64": str(app.store.object_crc(key)),
                               "size": key.size})
        if route == "/reset" and method == "POST":
            app.reset()
            return _json(200, {"ok": True})
        raise AdminError(404, "no admin route %s %s" % (method, route))
