"""Bad input gets a clear exception that names what is wrong, in bounded
time: URIs, buckets, credentials, config, endpoints, missing objects."""

import json
import socket
import time

import pytest

from ossconnector import Client
from ossconnector.errors import (OssConnectionError, OssInvalidArgumentError, OssNotFoundError,
                                 OssPermissionError)


def test_missing_object(client, bucket):
    with pytest.raises(FileNotFoundError, match=f"oss://{bucket}/nope"):
        client.open(f"oss://{bucket}/nope")
    with pytest.raises(OssNotFoundError) as info:
        client.stat(f"oss://{bucket}/nope")
    assert info.value.http_status == 404


def test_missing_bucket(client):
    with pytest.raises(FileNotFoundError):
        list(client.list("oss://no-such-bucket-here/"))


@pytest.mark.parametrize("uri", ["s3://b/k", "oss://", "oss:///key", "oss://Bad_Bucket/k",
                                 "bucket/key", "oss://ab/k", "oss://b" * 1 + "/" + "k" * 1100])
def test_malformed_uri(client, uri):
    with pytest.raises(ValueError, match="URI|bucket|key"):
        client.stat(uri)


def test_wrong_secret(emu, bucket, tmp_path, config_file):
    cred = tmp_path / "bad.json"
    cred.write_text(json.dumps({"AccessKeyId": emu.access_key_id, "AccessKeySecret": "wrong"}))
    c = Client(emu.endpoint, cred_path=str(cred), config_path=config_file)
    emu.put_object(bucket, "k", b"data")
    with pytest.raises(PermissionError):
        c.stat(f"oss://{bucket}/k")  # HEAD: no body, so only the status says why
    with pytest.raises(PermissionError) as info:
        c.open(f"oss://{bucket}/k", size=4).read()
    assert info.value.oss_code == "SignatureDoesNotMatch"
    assert "wrong" not in str(info.value)
    assert info.value.request_id


def test_unknown_key_id(emu, bucket, tmp_path, config_file):
    cred = tmp_path / "bad.json"
    cred.write_text(json.dumps({"AccessKeyId": "nobody", "AccessKeySecret": "x"}))
    c = Client(emu.endpoint, cred_path=str(cred), config_path=config_file)
    with pytest.raises(OssPermissionError) as info:
        c.stat(f"oss://{bucket}/k")
    assert info.value.errno == 13


def test_missing_credentials_file(emu, config_file, tmp_path):
    missing = str(tmp_path / "nope.json")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        Client(emu.endpoint, cred_path=missing, config_path=config_file)


def test_malformed_credentials_file(emu, config_file, tmp_path):
    cred = tmp_path / "cred.json"
    cred.write_text('{"AccessKeyId": "id", "AccessKeySecret": "s3cr3t",')
    with pytest.raises(ValueError, match="cred.json") as info:
        Client(emu.endpoint, cred_path=str(cred), config_path=config_file)
    assert "s3cr3t" not in str(info.value)


def test_missing_env_credentials(emu, config_file, monkeypatch):
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("OSS_ACCESS_KEY_SECRET", raising=False)
    with pytest.raises(PermissionError, match="OSS_ACCESS_KEY_ID"):
        Client(emu.endpoint, config_path=config_file)


def test_invalid_config(emu, cred_file, tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"prefetch": {"vcpus": "many"}}')
    with pytest.raises(ValueError, match=r"config.json.*prefetch.vcpus"):
        Client(emu.endpoint, cred_path=cred_file, config_path=str(bad))
    bad.write_text('{"logLevel": 1\n "prefetch": {}}')
    with pytest.raises(ValueError, match=r"config.json.*line 2"):
        Client(emu.endpoint, cred_path=cred_file, config_path=str(bad))
    with pytest.raises(FileNotFoundError, match="absent.json"):
        Client(emu.endpoint, cred_path=cred_file, config_path=str(tmp_path / "absent.json"))


def test_empty_endpoint(cred_file):
    with pytest.raises(ValueError, match="endpoint"):
        Client("", cred_path=cred_file)
    with pytest.raises(ValueError, match="ftp://x"):
        Client("ftp://x", cred_path=cred_file)


def test_unknown_host_fails_fast(cred_file, config_file):
    c = Client("http://no-such-host.invalid", cred_path=cred_file, config_path=config_file)
    start = time.monotonic()
    with pytest.raises(OssConnectionError, match="no-such-host.invalid"):
        c.stat("oss://bucket/key")
    assert time.monotonic() - start < 30


def test_server_down(cred_file, config_file):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Client(f"http://127.0.0.1:{port}", cred_path=cred_file, config_path=config_file)
    start = time.monotonic()
    with pytest.raises(ConnectionError, match=f"127.0.0.1"):
        c.get("oss://bucket/key")
    assert time.monotonic() - start < 30


def test_server_never_answers(cred_file, tmp_path):
    """A server that accepts and then says nothing: the low-speed timeout
    ends every attempt, so the call fails instead of hanging."""
    from tests_helpers import write_config_file

    cfg = write_config_file(tmp_path, http={"lowSpeedTimeoutSec": 1, "maxRetries": 1})
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        c = Client(f"http://127.0.0.1:{port}", cred_path=cred_file, config_path=cfg)
        start = time.monotonic()
        with pytest.raises(OSError):
            c.stat("oss://bucket/key")
        assert time.monotonic() - start < 20


def test_access_after_close(client, bucket):
    client.put(f"oss://{bucket}/k", b"x")
    reader = client.open(f"oss://{bucket}/k")
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read()


def test_invalid_arguments_type(client):
    with pytest.raises(TypeError):
        client.stat(b"oss://bucket/key")
    assert issubclass(OssInvalidArgumentError, ValueError)
