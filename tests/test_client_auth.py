"""Credentials from providers, files and the environment; V1 and V4
signing; STS tokens; refresh when the credential file changes."""

import json
import os
import time

import pytest

from ossconnector import Client


class StaticProvider:
    """Shaped like an oss2 CredentialsProvider."""

    def __init__(self, ak, sk, token=""):
        self.calls = 0
        self.ak, self.sk, self.token = ak, sk, token

    def get_credentials(self):
        from oss2.credentials import Credentials

        self.calls += 1
        return Credentials(self.ak, self.sk, self.token or None)


def test_v4_signing_with_region(emu, bucket, cred_file, config_file):
    c = Client(emu.endpoint, cred_path=cred_file, config_path=config_file, region=emu.region)
    c.put(f"oss://{bucket}/v4", b"signed with OSS4-HMAC-SHA256")
    assert c.get(f"oss://{bucket}/v4") == b"signed with OSS4-HMAC-SHA256"
    assert [e.key for e in c.list(f"oss://{bucket}/")] == ["v4"]


def test_v4_wrong_region_is_rejected(emu, bucket, cred_file, config_file):
    c = Client(emu.endpoint, cred_path=cred_file, config_path=config_file, region="us-west-1")
    with pytest.raises(PermissionError):
        c.put(f"oss://{bucket}/x", b"x")


def test_oss2_provider(emu, bucket, config_file):
    provider = StaticProvider(emu.access_key_id, emu.access_key_secret)
    c = Client(emu.endpoint, cred_provider=provider, config_path=config_file)
    c.put(f"oss://{bucket}/p", b"via provider")
    assert c.get(f"oss://{bucket}/p") == b"via provider"
    assert provider.calls >= 1


def test_environment_provider_of_oss2(emu, bucket, config_file, monkeypatch):
    from oss2.credentials import EnvironmentVariableCredentialsProvider

    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    c = Client(emu.endpoint, cred_provider=EnvironmentVariableCredentialsProvider(),
               config_path=config_file)
    c.put(f"oss://{bucket}/env", b"e")
    c2 = Client(emu.endpoint, config_path=config_file)  # plain environment
    assert c2.get(f"oss://{bucket}/env") == b"e"


def test_failing_provider(emu, bucket, config_file):
    class Broken:
        def get_credentials(self):
            raise RuntimeError("vault unreachable")

    with pytest.raises(PermissionError):
        Client(emu.endpoint, cred_provider=Broken(), config_path=config_file)


def test_sts_token_is_signed(emu, bucket, config_file, tmp_path):
    from ossconnector.emulator.testing import oss2_bucket

    token = "CAIS-sts-token-" + "x" * 600
    path = tmp_path / "sts.json"
    path.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                "AccessKeySecret": emu.access_key_secret,
                                "SecurityToken": token,
                                "Expiration": "2099-01-01T00:00:00Z"}))
    for region in (None, emu.region):
        c = Client(emu.endpoint, cred_path=str(path), config_path=config_file, region=region)
        c.put(f"oss://{bucket}/sts", b"token")
        assert c.get(f"oss://{bucket}/sts") == b"token"
    # And the same object through oss2's StsAuth.
    assert oss2_bucket(emu, bucket, security_token=token).get_object("sts").read() == b"token"


def test_expired_credentials_file_is_warned_about_once(emu, bucket, tmp_path):
    """An Expiration already in the past: one warning naming the file and
    the time, not one per re-read (the file is re-read each second while
    it stays expired)."""
    from tests_helpers import write_config

    config = write_config(tmp_path)
    log = tmp_path / "connector.log"
    path = tmp_path / "expired.json"
    path.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                "AccessKeySecret": emu.access_key_secret,
                                "Expiration": "2020-01-02T03:04:05Z"}))
    c = Client(emu.endpoint, cred_path=str(path), config_path=config)
    c.put(f"oss://{bucket}/expired", b"x")
    deadline = time.monotonic() + 120
    while log.read_text().count(f"credentials file {path} re-read") < 2:
        assert time.monotonic() < deadline, log.read_text()
        c.stat(f"oss://{bucket}/expired")  # each request may re-read the file
    text = log.read_text()
    warning = f"credentials file {path}: 'Expiration' 2020-01-02T03:04:05Z is already in the past"
    assert text.count(warning) == 1, text
    assert "403" in text and emu.access_key_secret not in text


def test_credential_file_is_reread_when_changed(emu, bucket, config_file, tmp_path):
    path = tmp_path / "rotating.json"
    path.write_text(json.dumps({"AccessKeyId": emu.access_key_id, "AccessKeySecret": "old-wrong"}))
    c = Client(emu.endpoint, cred_path=str(path), config_path=config_file)
    with pytest.raises(PermissionError):
        c.put(f"oss://{bucket}/r", b"1")
    # Rotate by atomic rename, as credential agents do.
    new = tmp_path / "rotating.json.new"
    new.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                               "AccessKeySecret": emu.access_key_secret}))
    os.replace(new, path)
    # Refresh attempts are rate-limited to one per second: the new file is
    # taken at the first attempt after that.
    deadline = time.monotonic() + 120
    while True:
        try:
            c.put(f"oss://{bucket}/r", b"2")
            break
        except PermissionError:
            assert time.monotonic() < deadline, "the rotated credentials file was never re-read"
            time.sleep(0.05)
    assert c.get(f"oss://{bucket}/r") == b"2"


def test_virtual_hosted_addressing(emu, bucket, cred_file, config_file, hosts_entry):
    """A DNS-name endpoint: requests go to http://<bucket>.<host>:port/key."""
    from tests_helpers import EMULATOR_DOMAIN

    hosts_entry(f"{bucket}.{EMULATOR_DOMAIN}")
    for region in (None, emu.region):
        c = Client(f"{EMULATOR_DOMAIN}:{emu.port}", cred_path=cred_file, config_path=config_file,
                   region=region)
        c.put(f"oss://{bucket}/vh key", b"virtual hosted")
        assert c.get(f"oss://{bucket}/vh key") == b"virtual hosted"
        assert [e.key for e in c.list(f"oss://{bucket}/vh")] == ["vh key"]


def test_path_style_forced(emu, bucket, cred_file, tmp_path):
    from tests_helpers import write_config_file

    cfg = write_config_file(tmp_path, http={"pathStyle": True})
    c = Client(f"http://localhost:{emu.port}", cred_path=cred_file, config_path=cfg)
    c.put(f"oss://{bucket}/ps", b"path style")
    assert c.get(f"oss://{bucket}/ps") == b"path style"
