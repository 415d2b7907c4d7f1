"""Hostile servers on the wire: whatever a server sends, a read returns the
object's bytes or raises an error naming the key and the endpoint, within
the configured timeouts.  Each server is a real one (wire_server.py) that
the engine talks HTTP(S) to."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
import time

import pytest

from ossconnector import Client
from ossconnector.errors import (OssError, OssIntegrityError, OssPermissionError,
                                 OssTimeoutError)

from wire_server import WireServer

SIZE = 300_000
PART = 102_400  # the smallest part size: several parts per object
DATA = bytes((i * 7 + i // 251) & 0xFF for i in range(SIZE))
URI = "oss://wire/dir/obj.bin"


def _client(tmp_path, endpoint, **http):
    cred = tmp_path / "cred.json"
    cred.write_text(json.dumps({"AccessKeyId": "AK", "AccessKeySecret": "SK"}))
    os.chmod(cred, 0o600)
    settings = {"partSize": PART, "retryBaseMs": 10, "retryMaxMs": 50, "maxRetries": 2,
                "connectTimeoutMs": 2000, "lowSpeedTimeoutSec": 2}
    settings.update(http)
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"logLevel": 1, "logPath": str(tmp_path / "connector.log"),
                               "auditPath": str(tmp_path / "audit.log"), "http": settings}))
    return Client(endpoint, cred_path=str(cred), config_path=str(cfg))


@pytest.fixture
def wire(tmp_path):
    """wire(behaviour, **options) -> (server, client); both closed after the test."""
    made = []

    def make(behaviour, **options):
        http = options.pop("http", {})
        server = WireServer(DATA, behaviour, **options)
        client = _client(tmp_path, server.endpoint, **http)
        made.append((server, client))
        return server, client

    yield make
    for server, client in made:
        client.close()
        server.close()


# ------------------------------------------- a new version, If-Match ignored

def test_server_ignoring_if_match_never_splices_versions(tmp_path):
    """The object is replaced after a reader's first read and the server
    ignores If-Match (and sends no CRC): a read beyond what read-ahead
    fetched is refused by comparing the reply's ETag -- ESTALE naming the
    object, never the other version's bytes."""
    big = os.urandom(16 << 20)
    with WireServer(big, "replaced", crc=False) as server:
        # Timeouts of minutes: what is tested is the version, not the clock
        # (a loaded machine stalled this Python server for over 2 s).
        c = _client(tmp_path, server.endpoint, lowSpeedTimeoutSec=120, connectTimeoutMs=30000)
        try:
            with c.open(URI, size=len(big)) as r:
                assert r.read(1000) == big[:1000]
                server.replace()
                r.seek(len(big) - 4096)
                with pytest.raises(OssError) as e:
                    r.read(1000)
        finally:
            c.close()
    assert e.value.errno == errno.ESTALE and "obj.bin" in str(e.value), e.value


# ---------------------------------------------------------- ignored Range

def test_server_ignoring_range_still_gives_the_asked_bytes(wire):
    _, c = wire("ignore_range")
    # Defect 8: this returned b'' (and readinto 0) without an error.
    assert c.open(URI, size=100).read() == DATA[:100]
    buf = bytearray(100)
    assert c.open(URI, size=100).readinto(buf) == 100 and bytes(buf) == DATA[:100]
    with c.open(URI, size=SIZE) as r:
        r.seek(1000)
        assert r.read(5000) == DATA[1000:6000]       # read-ahead chunks
        r.seek(150_000)
        assert r.read() == DATA[150_000:]             # direct, several parts
    with c.open(URI, size=SIZE) as r:
        assert r.read() == DATA                       # whole object


def test_size_larger_than_object_returns_what_exists(wire):
    _, c = wire("honest")
    assert c.open(URI, size=SIZE + 5000).read() == DATA
    _, c = wire("ignore_range")
    assert c.open(URI, size=SIZE + 5000).read() == DATA


# ------------------------------------------------- more or fewer bytes

@pytest.mark.parametrize("behaviour, says", [
    ("wrong_range", "when bytes"),
    ("short_range", "when bytes"),
    ("extra_bytes", "Content-Length"),
    ("extra_unframed", "more bytes than asked"),
    ("huge_length", "invalid Content-Length"),
    ("negative_length", "invalid Content-Length"),
    ("short_body", ""),
])
def test_wrong_amount_of_bytes_is_an_error_naming_key_and_endpoint(wire, behaviour, says):
    server, c = wire(behaviour)
    with c.open(URI, size=SIZE) as r:
        r.seek(1000)
        with pytest.raises(OssError) as e:
            r.read(5000)
    msg = str(e.value)
    assert "oss://wire/dir/obj.bin" in msg and server.endpoint in msg, msg
    assert says.lower() in msg.lower(), msg
    # The big direct path too, and it was tried again before giving up.
    before = len(server.requests)
    with pytest.raises(OssError):
        c.open(URI, size=SIZE).read()
    assert len(server.requests) - before >= 2


# ------------------------------------------------------------ stalls

@pytest.mark.parametrize("behaviour", ["slow_loris", "silent"])
def test_stalling_server_times_out_naming_key_and_endpoint(wire, behaviour):
    server, c = wire(behaviour, http={"lowSpeedTimeoutSec": 2, "maxRetries": 1})
    t0 = time.monotonic()
    with pytest.raises(OssTimeoutError) as e:
        c.open(URI, size=SIZE).read(200)
    took = time.monotonic() - t0
    msg = str(e.value)
    assert "oss://wire/dir/obj.bin" in msg and server.endpoint in msg, msg
    # Two attempts of ~2 s each; generous for a loaded machine, far from a hang.
    assert took < 30, took


def test_trickling_server_above_one_byte_per_second_is_cut_off(wire):
    # Ten bytes a second: above the old fixed floor of 1 byte/s, so the
    # transfer of a 100 KiB part went on for hours.  Below
    # http.lowSpeedLimitBytes (default 1024) for http.lowSpeedTimeoutSec it
    # now ends.
    server, c = wire("slow_loris", trickle_s=0.1,
                     http={"lowSpeedTimeoutSec": 2, "maxRetries": 0})
    outcome = []

    def read():
        try:
            outcome.append(c.open(URI, size=SIZE).read(200))
        except OssError as exc:
            outcome.append(exc)

    t0 = time.monotonic()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(60)  # ~2 s expected; generous for a loaded machine
    took = time.monotonic() - t0
    if reader.is_alive():
        server.close()  # ends the trickle so the reader thread can finish
        reader.join(60)
        pytest.fail(f"a server trickling 10 bytes/s was not cut off after {took:.0f} s")
    assert len(outcome) == 1 and isinstance(outcome[0], OssTimeoutError), outcome
    msg = str(outcome[0])
    assert "oss://wire/dir/obj.bin" in msg and server.endpoint in msg, msg
    assert "http.lowSpeedLimitBytes" in msg and "http.lowSpeedTimeoutSec" in msg, msg


# ------------------------------------------------------------ retries

def test_retries_follow_retry_settings_not_the_loop_tick(wire):
    server, c = wire("fail_first", fail_count=3,
                     http={"retryBaseMs": 50, "retryMaxMs": 200, "maxRetries": 5})
    assert c.open(URI, size=100).read() == DATA[:100]
    gets = [t for t, method, _ in server.wait_requests(4) if method == "GET"]
    assert len(gets) == 4
    # 3 retries at 25-200 ms each; they came ~1 s apart (the I/O loop's
    # poll timeout) before the loop woke for the next due retry.
    assert gets[3] - gets[0] < 1.5, [round(b - a, 3) for a, b in zip(gets, gets[1:])]


# --------------------------------------------------------------- TLS

@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=120)
    return str(cert), str(key)


def test_self_signed_tls_is_refused_by_default(wire, self_signed):
    server, c = wire("honest", tls=self_signed)
    with pytest.raises(OssPermissionError) as e:
        c.open(URI, size=100).read()
    msg = str(e.value)
    assert server.endpoint in msg and "http.caFile" in msg, msg


def test_self_signed_tls_is_accepted_with_its_ca_file(wire, self_signed):
    _, c = wire("honest", tls=self_signed, http={"caFile": self_signed[0]})
    assert c.open(URI, size=100).read() == DATA[:100]
    assert c.open(URI, size=SIZE).read() == DATA


# ------------------------------------- every byte served is checked (Python)

MiB = 1 << 20


@pytest.fixture
def corruptible(emu, bucket):
    """A 3 MiB object in the emulator (several 1 MiB parts); returns (uri, data)."""
    data = os.urandom(3 * MiB + 4321)
    emu.put_object(bucket, "w/blob", data)
    return f"oss://{bucket}/w/blob", data


def test_corrupt_range_is_caught_once_reads_cover_the_object(client, emu, bucket, corruptible):
    uri, data = corruptible
    # The first GET's body (the read-ahead chunk from byte 1000) is corrupted.
    emu.faults.corrupt(offset=5, length=3, count=1, bucket=bucket, key="w/blob")
    with client.open(uri) as r:
        r.seek(1000)
        r.read(5000)  # not yet checkable: bytes 0..999 never read
        r.seek(0)
        with pytest.raises(OssIntegrityError) as e:
            r.read(1000)  # completes the coverage: the check runs and fails
        assert uri in str(e.value)
        with pytest.raises(OssIntegrityError):  # and stays failed
            r.read(10)


def test_corrupt_direct_reads_in_any_order_are_caught(client, emu, bucket, corruptible):
    uri, data = corruptible
    half = len(data) // 2
    emu.faults.corrupt(offset=100, length=1, count=1, bucket=bucket, key="w/blob")
    with client.open(uri) as r:
        r.seek(half)
        tail = bytearray(len(data) - half)
        r.readinto(tail)               # large: straight into the buffer, corrupted
        r.seek(0)
        with pytest.raises(OssIntegrityError):
            r.readinto(bytearray(half))


def test_clean_object_read_in_any_order_passes(client, emu, bucket, corruptible):
    uri, data = corruptible
    with client.open(uri) as r:
        pieces = [(2 * MiB, 700_000), (10, 50), (0, 2 * MiB + 5), (MiB, 3 * MiB)]
        for off, n in pieces:             # overlapping, backwards, small and large
            r.seek(off)
            assert r.read(n) == data[off:off + n]
        assert r._object_check.verified_crc is not None


def test_verify_full_checks_before_returning_any_byte(client, emu, bucket, corruptible):
    uri, data = corruptible
    # Every body corrupted: the engine's own re-read of a whole object fails too.
    emu.faults.corrupt(offset=5, length=2, count=100, bucket=bucket, key="w/blob")
    with client.open(uri, verify="full") as r:
        r.seek(1000)
        with pytest.raises(OssIntegrityError) as e:
            r.read(5000)
        assert uri in str(e.value)
    emu.faults.clear()
    emu.faults.corrupt(offset=5, length=2, count=1, bucket=bucket, key="w/blob")
    with client.open(uri, verify="full") as r:
        r.seek(1000)
        assert r.read(5000) == data[1000:6000]   # re-read once, then checked
        r.seek(0)
        assert r.read() == data


def test_verify_mode_is_checked(client, corruptible):
    with pytest.raises(ValueError, match="verify"):
        client.open(corruptible[0], verify="sometimes")
