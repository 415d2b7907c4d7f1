"""Forward requests the emulator does not handle itself to moto's S3 app.

Contract: :class:`MotoProxy` turns an already-authenticated
:class:`~.request.OssRequest` into a path-style, unsigned S3 request
(``Host: localhost``, ``/bucket/key``, a placeholder ``Authorization``, presign and
``x-oss-*`` auth parameters dropped, other ``x-oss-*`` headers renamed to
``x-amz-*``), runs it through ``moto.moto_server.werkzeug_app.create_backend_app("s3")``
and translates the answer back: ``x-amz-*`` headers become ``x-oss-*``
(``x-amz-request-id`` is kept), S3 XML namespaces are stripped, and S3 error
bodies are re-raised as :class:`~.errors.OssError` so they render in OSS form;
a crash inside moto becomes 501 NotImplemented.
Used for rarely needed operations (tagging, versioning, UploadPartCopy, ...).
"""

import re
import threading
import xml.etree.ElementTree as ElementTree
from urllib.parse import quote

from .errors import OssError
from .response import Response

DROP_PARAMS = frozenset(["OSSAccessKeyId", "Signature", "Expires", "security-token", "x-oss-signature",
                         "x-oss-credential", "x-oss-date", "x-oss-expires", "x-oss-signature-version",
                         "x-oss-additional-headers", "x-oss-security-token"])
DROP_HEADERS = frozenset(["authorization", "host", "x-oss-date", "x-oss-content-sha256",
                          "x-oss-security-token", "content-type", "content-length"])
HEADER_RENAMES = {"x-oss-object-acl": "x-amz-acl", "x-oss-acl": "x-amz-acl"}
_XMLNS = re.compile(rb'\sxmlns="[^"]*"')
# moto treats requests without Authorization as anonymous and applies ACLs;
# the real signature was verified already, so present a syntactically valid one.
_PLACEHOLDER_AUTH = ("AWS4-HMAC-SHA256 Credential=OSSEMUPLACEHOLDER/20200101/us-east-1/s3/aws4_request, "
                     "SignedHeaders=host, Signature=0")
_RESPONSE_DROP = frozenset(["server", "date", "content-length", "x-amz-id-2", "connection",
                            "transfer-encoding"])


class MotoProxy:
    def __init__(self):
        self._app = None
        self._lock = threading.Lock()

    @property
    def app(self):
        with self._lock:
            if self._app is None:
                from moto.moto_server.werkzeug_app import create_backend_app
                self._app = create_backend_app("s3")
            return self._app

    @staticmethod
    def _environ(req):
        src = req.environ
        env = {k: v for k, v in src.items() if not k.startswith("HTTP_") and not k.startswith("ossemu.")}
        for name, value in req.headers.items_lower():
            if name in DROP_HEADERS:
                continue
            name = HEADER_RENAMES.get(name, name)
            if name.startswith("x-oss-"):
                name = "x-amz-" + name[len("x-oss-"):]
            env["HTTP_" + name.upper().replace("-", "_")] = value
        env["HTTP_HOST"] = "localhost"
        env["HTTP_AUTHORIZATION"] = _PLACEHOLDER_AUTH
        path = "/" + req.bucket + ("/" + req.key if req.key else "")
        env["PATH_INFO"] = path.encode("utf-8", "surrogateescape").decode("latin-1")
        query = "&".join(quote(k, safe="") + ("=" + quote(v, safe="") if v else "")
                         for k, v in req.query if k not in DROP_PARAMS)
        env["QUERY_STRING"] = query
        env["RAW_URI"] = env["REQUEST_URI"] = quote(path, safe="/") + ("?" + query if query else "")
        env["wsgi.input_terminated"] = True
        return env

    def forward(self, req):
        captured = {}

        def start_response(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        try:
            result = self.app(self._environ(req), start_response)
            try:
                body = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception as exc:  # moto could not handle this OSS variant of the request
            raise OssError(501, "NotImplemented", "%s is not supported by the emulator's storage backend (%s)."
                           % (req.operation, type(exc).__name__))
        status = int(captured["status"].split(" ", 1)[0])
        headers = []
        for name, value in captured["headers"]:
            low = name.lower()
            if low in _RESPONSE_DROP or low.startswith("access-control-"):
                continue
            if low.startswith("x-amz-") and low != "x-amz-request-id":
                name = "x-oss-" + low[len("x-amz-"):]
            headers.append((name, value))
        if body.lstrip().startswith(b"<"):
            body = _XMLNS.sub(b"", body)
        if status >= 400:
            raise _as_oss_error(status, body, headers)
        return Response(status, headers, body)


def _as_oss_error(status, body, headers):
    code = {400: "InvalidArgument", 403: "AccessDenied", 404: "NotFound", 405: "MethodNotAllowed",
            409: "Conflict", 501: "NotImplemented"}.get(status, "InternalError")
    message, fields = "The request was refused by the storage backend.", {}
    try:
        root = ElementTree.fromstring(body)
        node = root if root.tag == "Error" else root.find("Error")
        if node is not None:
            for child in node:
                if child.tag == "Code":
                    code = child.text or code
                elif child.tag == "Message":
                    message = child.text or message
                elif child.tag in ("Key", "BucketName", "UploadId", "ArgumentName", "ArgumentValue"):
                    fields[child.tag] = child.text
    except ElementTree.ParseError:
        pass
    return OssError(status, code, message, **fields)
