"""Fault injection observed from raw sockets and from oss2."""

import http.client
import json
import os
import time
from urllib.parse import urlparse

import oss2
import pytest
from oss2.models import PartInfo

from ossconnector.emulator.testing import build_request, parse_head, raw_exchange, request_target, signed_headers
from tests_helpers import wait_until

DATA = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture
def obj(emu, bucket_name):
    emu.put_object(bucket_name, "f/obj", DATA)
    return bucket_name, "f/obj"


def get_raw(emu, bucket_name, key, extra=None):
    headers = signed_headers(emu, "GET", bucket_name, key, headers=extra)
    return raw_exchange(emu.endpoint, build_request("GET", request_target(bucket_name, key),
                                                    dict(headers, Connection="close")))


@pytest.mark.parametrize("status,code", [(500, "InternalError"), (503, "ServiceUnavailable"),
                                         (429, "TooManyRequests")])
def test_error_burst_then_recovery(emu, obj, status, code):
    bucket_name, key = obj
    emu.faults.error(status, count=2, key=key, method="GET")
    for _ in range(2):
        head, body, _ = get_raw(emu, bucket_name, key)
        assert parse_head(head)[0] == status
        assert b"<Code>%s</Code>" % code.encode() in body
    head, body, _ = get_raw(emu, bucket_name, key)
    assert parse_head(head)[0] == 200 and body == DATA
    assert emu.faults.list() == []


def test_filters_do_not_match_other_requests(emu, obj, bucket):
    bucket_name, key = obj
    emu.faults.error(503, key="other")
    emu.faults.error(503, method="PUT", key=key)
    assert bucket.get_object(key).read() == DATA
    assert len(emu.faults.list()) == 2


def test_reset_mid_body(emu, obj):
    bucket_name, key = obj
    emu.faults.reset(after_bytes=1000, key=key)
    head, body, reset = get_raw(emu, bucket_name, key)
    status, headers = parse_head(head)
    assert status == 200 and int(headers["content-length"]) == len(DATA)
    assert len(body) < len(DATA) and body == DATA[:len(body)]
    assert len(body) <= 1000
    assert reset or len(body) < len(DATA)
    # next request is fine
    assert get_raw(emu, bucket_name, key)[1] == DATA


def test_reset_seen_by_http_client(emu, obj):
    bucket_name, key = obj
    emu.faults.reset(after_bytes=5000, key=key)
    u = urlparse(emu.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", request_target(bucket_name, key), headers=signed_headers(emu, "GET", bucket_name, key))
    resp = conn.getresponse()
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        resp.read()
    conn.close()


def test_truncate(emu, obj):
    bucket_name, key = obj
    emu.faults.truncate(after_bytes=12345, key=key)
    head, body, reset = get_raw(emu, bucket_name, key)
    status, headers = parse_head(head)
    assert status == 200 and int(headers["content-length"]) == len(DATA)
    assert body == DATA[:12345] and not reset


def test_corrupt_keeps_headers_and_oss2_detects(emu, obj, bucket, tmp_path):
    bucket_name, key = obj
    emu.faults.corrupt(offset=100, length=3, key=key)
    head, body, _ = get_raw(emu, bucket_name, key)
    status, headers = parse_head(head)
    assert status == 200 and len(body) == len(DATA)
    diff = [i for i in range(len(DATA)) if body[i] != DATA[i]]
    assert diff == [100, 101, 102]
    assert headers["x-oss-hash-crc64ecma"] == str(bucket.get_object(key).server_crc)
    emu.faults.corrupt(offset=len(DATA) - 1, key=key)
    with pytest.raises(oss2.exceptions.InconsistentError):  # oss2 compares CRCs in get_object_to_file
        bucket.get_object_to_file(key, str(tmp_path / "out"))
    bucket.get_object_to_file(key, str(tmp_path / "out"))  # one-shot: the next read is clean


def test_body_faults_skip_head_requests(emu, obj, bucket):
    bucket_name, key = obj
    emu.faults.truncate(after_bytes=10, key=key)
    assert bucket.head_object(key).content_length == len(DATA)
    assert len(emu.faults.list()) == 1  # still pending for the next GET
    head, body, _ = get_raw(emu, bucket_name, key)
    assert len(body) == 10


def test_delay(emu, obj, bucket):
    bucket_name, key = obj
    emu.faults.delay(0.4, key=key)
    start = time.monotonic()
    assert bucket.get_object(key).read() == DATA
    assert time.monotonic() - start >= 0.4


@pytest.mark.parametrize("let_go", ["release", "clear"])
def test_hold_keeps_a_request_until_released(emu, obj, let_go):
    """A held GET waits (held() says so) until release() or clear(), then is
    served in full; nothing is held afterwards."""
    import threading

    bucket_name, key = obj
    emu.faults.hold(key=key, method="GET")
    got = []
    t = threading.Thread(target=lambda: got.append(get_raw(emu, bucket_name, key)))
    t.start()
    try:
        wait_until(lambda: emu.faults.held() == 1, "the GET held")
        assert t.is_alive() and not got  # still waiting at the server
        assert emu.faults.list() == []   # the fault was taken
    finally:
        getattr(emu.faults, let_go)()
        t.join(timeout=60)
    head, body, _ = got[0]
    assert parse_head(head)[0] == 200 and body == DATA
    wait_until(lambda: emu.faults.held() == 0, "nothing held")


def test_fail_part_and_complete(emu, bucket):
    part = os.urandom(100 * 1024)
    upload_id = bucket.init_multipart_upload("mpf").upload_id
    emu.faults.fail_part(status=500, part_number=2)
    r1 = bucket.upload_part("mpf", upload_id, 1, part)
    with pytest.raises(oss2.exceptions.ServerError):
        bucket.upload_part("mpf", upload_id, 2, b"tail")
    r2 = bucket.upload_part("mpf", upload_id, 2, b"tail")
    parts = [PartInfo(1, r1.etag, size=len(part), part_crc=r1.crc), PartInfo(2, r2.etag, size=4, part_crc=r2.crc)]
    emu.faults.fail_complete(status=503)
    with pytest.raises(oss2.exceptions.OssError) as exc:
        bucket.complete_multipart_upload("mpf", upload_id, parts)
    assert exc.value.status == 503
    bucket.complete_multipart_upload("mpf", upload_id, parts)  # the upload survived the failure
    assert bucket.get_object("mpf").read() == part + b"tail"


def test_error_fault_on_put_stores_nothing(emu, bucket):
    emu.faults.error(500, op="PutObject")
    with pytest.raises(oss2.exceptions.ServerError):
        bucket.put_object("nothing", b"x" * 1000)
    assert not bucket.object_exists("nothing")


def test_admin_http_api(emu, obj):
    bucket_name, key = obj
    u = urlparse(emu.endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("POST", "/_emulator/faults", body=json.dumps([{"kind": "error", "status": 503, "key": key},
                                                               {"kind": "truncate", "after_bytes": 7, "key": key}]))
    resp = conn.getresponse()
    ids = json.loads(resp.read())["ids"]
    assert resp.status == 200 and len(ids) == 2
    conn.request("GET", "/_emulator/faults")
    listed = json.loads(conn.getresponse().read())["faults"]
    assert [f["kind"] for f in listed] == ["error", "truncate"]
    conn.request("POST", "/_emulator/faults", body=json.dumps({"kind": "bogus"}))
    bad = conn.getresponse()
    assert bad.status == 400 and "kind" in json.loads(bad.read())["error"]
    conn.close()
    assert parse_head(get_raw(emu, bucket_name, key)[0])[0] == 503
    assert len(get_raw(emu, bucket_name, key)[1]) == 7
    assert get_raw(emu, bucket_name, key)[1] == DATA
