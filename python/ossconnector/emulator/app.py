"""The emulator's WSGI application: OSS front door over the moto store.

Contract, per request:
1. ``/_emulator/...`` (path-style host) goes to the admin API (:mod:`.admin`).
2. Otherwise the request is parsed (:mod:`.request`), classified into an OSS
   operation name (:mod:`.routing`), authenticated (:mod:`.auth`), then
   pending ``delay``/``error`` faults are applied (:mod:`.faults`).
3. The operation runs in an emulator handler (objects, listing, multipart,
   buckets) or, for anything else, in moto's S3 app (:mod:`.motoproxy`).
4. Body faults (reset/truncate/corrupt) may wrap a GetObject or a
   ListObjects(V2) body; GetObject body bytes are counted per object as they are sent (:mod:`.stats`).
Every response carries ``x-oss-request-id``; errors are OSS XML
(``<Error><Code>..</Code><Message>..</Message><RequestId>..</RequestId>
<HostId>..</HostId>...``), without a body for HEAD requests.
"""

import logging
import time
import traceback
import uuid

from . import acl, buckets, listing, multipart, objects
from .admin import AdminApi
from .auth import Authenticator
from .bodies import ObservedBody
from .config import ADMIN_PREFIX, EmulatorConfig
from .errors import OssError
from .faults import BODY_FAULT_OPS, BODY_KINDS, FaultRegistry, apply_body_fault
from .motoproxy import MotoProxy
from .request import OssRequest, bucket_from_host
from .response import Response
from .routing import classify
from .stats import Stats
from .store import Store

log = logging.getLogger("ossconnector.emulator")

REASONS = {200: "OK", 204: "No Content", 206: "Partial Content", 304: "Not Modified", 400: "Bad Request",
           403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict",
           411: "Length Required", 412: "Precondition Failed", 416: "Requested Range Not Satisfiable",
           429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
           502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
HANDLERS = {
    "ListBuckets": buckets.list_buckets,
    "PutBucket": buckets.put_bucket,
    "DeleteBucket": buckets.delete_bucket,
    "HeadBucket": buckets.head_bucket,
    "GetBucketInfo": buckets.bucket_info,
    "GetBucketLocation": buckets.bucket_location,
    "DeleteMultipleObjects": buckets.delete_multiple,
    "ListObjects": listing.list_objects,
    "ListObjectsV2": listing.list_objects_v2,
    "ListMultipartUploads": multipart.list_uploads,
    "GetObject": objects.get_object,
    "HeadObject": objects.head_object,
    "GetObjectMeta": objects.get_object_meta,
    "PutObject": objects.put_object,
    "CopyObject": objects.copy_object,
    "DeleteObject": objects.delete_object,
    "InitiateMultipartUpload": multipart.initiate,
    "UploadPart": multipart.upload_part,
    "CompleteMultipartUpload": multipart.complete,
    "AbortMultipartUpload": multipart.abort,
    "ListParts": multipart.list_parts,
    "PutObjectAcl": acl.put_object_acl,
    "GetObjectAcl": acl.get_object_acl,
    "PutBucketAcl": acl.put_bucket_acl,
    "GetBucketAcl": acl.get_bucket_acl,
    "GetBucketStat": acl.bucket_stat,
}
class EmulatorApp:
    def __init__(self, config=None, store=None, faults=None, stats=None):
        self.config = config or EmulatorConfig()
        self.store = store or Store()
        self.faults = faults or FaultRegistry()
        self.stats = stats or Stats()
        self.auth = Authenticator(self.config.credentials, self.config.region, self.config.max_skew)
        self.admin = AdminApi(self)
        self.moto = MotoProxy()
        self.host_id = "ossemu.%s" % (self.config.normalized_domain() or "local")

    # ---------------------------------------------------------- helpers
    def ensure_bucket(self, name):
        if name not in self.store.backend.buckets:
            try:
                self.store.create_bucket(name, self.config.region)
            except OssError as exc:
                if exc.code != "BucketAlreadyExists":
                    raise

    def force_delete_bucket(self, name):
        bucket = self.store.get_bucket(name)
        for key_name in list(bucket.keys.keys()):
            bucket.keys.pop(key_name)
        self.store.delete_bucket(name)

    def reset(self):
        for bucket in list(self.store.list_buckets()):
            self.force_delete_bucket(bucket.name)
        self.faults.clear()
        self.stats.reset()

    # ---------------------------------------------------------- WSGI
    def __call__(self, environ, start_response):
        request_id = uuid.uuid4().hex[:24].upper()
        environ["ossemu.request_id"] = request_id
        raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")).split("?", 1)[0]
        domain = self.config.normalized_domain()
        if raw_path.startswith(ADMIN_PREFIX + "/") and bucket_from_host(environ.get("HTTP_HOST", ""), domain) is None:
            resp = self.admin.handle(environ, raw_path)
            return self._respond(start_response, resp, request_id, environ)
        req = None
        try:
            req = OssRequest(environ, domain)
            req.request_id = request_id
            req.ranged = False
            req.operation = classify(req)
            self.auth.authenticate(req)
            resp = self._dispatch(req)
        except OssError as exc:
            resp = self._error_response(exc, req, request_id, environ)
        except Exception:  # a bug: report it as OSS would, keep serving
            log.error("unhandled error in %s: %s", req.operation if req else "?", traceback.format_exc())
            resp = self._error_response(OssError(500, "InternalError", "We encountered an internal error. Please try again."),
                                        req, request_id, environ)
        if req is not None:
            self.stats.record_request(req.method, req.operation, req.bucket, req.key, getattr(req, "ranged", False))
            resp = self._observe(req, resp)
        return self._respond(start_response, resp, request_id, environ)

    def _fault_context(self, req):
        part = req.params.get("partNumber")
        return {"method": req.method, "op": req.operation, "bucket": req.bucket, "key": req.key,
                "part_number": int(part) if part and part.isdigit() else None}

    def _dispatch(self, req):
        ctx = self._fault_context(req)
        self.faults.hold_here(ctx)
        delay = self.faults.take(ctx, ("delay",))
        if delay is not None:
            time.sleep(delay.delay)
        error = self.faults.take(ctx, ("error",))
        if error is not None:
            raise OssError(error.status, error.error_code(), error.message or "Injected fault (ossemu).")
        op = req.operation
        handler = HANDLERS.get(op)
        if handler is not None:
            resp = handler(self, req)
        elif op.startswith("Moto:"):
            resp = self.moto.forward(req)
        elif op == "AppendObject" or op.startswith("Unsupported:"):
            raise OssError(501, "NotImplemented", "%s is not implemented by the OSS emulator." % op)
        else:
            raise OssError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
        if op in BODY_FAULT_OPS and resp.status in (200, 206) and resp.content_length:
            fault = self.faults.take(ctx, BODY_KINDS)
            if fault is not None:
                raw = resp.body
                resp.body = ObservedBody(apply_body_fault(raw, fault), closer=raw)
        return resp

    def _observe(self, req, resp):
        if req.operation != "GetObject" or req.method != "GET" or resp.status not in (200, 206):
            return resp
        bucket, key, stats = req.bucket, req.key, self.stats
        on_bytes = lambda n: stats.add_bytes(bucket, key, n)  # noqa: E731
        if isinstance(resp.body, ObservedBody):
            resp.body.on_bytes = on_bytes
        else:
            resp.body = ObservedBody(resp.body, on_bytes)
        return resp

    def _error_response(self, exc, req, request_id, environ):
        body = b""
        if environ.get("REQUEST_METHOD") != "HEAD" and exc.status not in (204, 304):
            body = exc.to_xml(request_id, self.host_id)
        headers = [("Content-Type", "application/xml"), ("x-oss-ec", "0000-00000000")]
        headers.extend(exc.headers.items())
        return Response(exc.status, headers, body)

    def _respond(self, start_response, resp, request_id, environ):
        headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
        headers.append(("x-oss-request-id", request_id))
        no_body = environ.get("REQUEST_METHOD") == "HEAD" or resp.status in (204, 304)
        length = resp.content_length
        if length is None and isinstance(resp.body, (bytes, bytearray)):
            length = len(resp.body)
        if length is not None and resp.status not in (204, 304):
            headers.append(("Content-Length", str(length)))
        status = "%d %s" % (resp.status, REASONS.get(resp.status, "Unknown"))
        start_response(status, headers)
        body = resp.body
        if no_body:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            return []
        if isinstance(body, (bytes, bytearray)):
            return [bytes(body)] if body else []
        return body
