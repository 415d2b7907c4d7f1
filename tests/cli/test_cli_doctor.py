"""ossc doctor: each check passes on a good setup and names what is wrong
in plain words on a bad one (exit status 1)."""

import json
import os
import re
import time

import pytest


def lines(out):
    """{check name: (status, rest of the output for it)}."""
    found = {}
    current = None
    for line in out.splitlines():
        if line[:1].isspace():
            if current:
                found[current] = (found[current][0], found[current][1] + "\n" + line.strip())
            continue
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("ok", "warn", "FAIL", "skip"):
            current = parts[1]
            found[current] = (parts[0], parts[2])
    return found


def test_all_good(ossc, bucket, emu):
    emu.put_object(bucket, "m/x", b"1")
    r = ossc("doctor", f"oss://{bucket}/m/")
    checks = lines(r.out)
    assert r.code == 0, r.out
    for name in ("library", "config", "credentials", "endpoint", "clock", "access"):
        assert checks[name][0] == "ok", (name, r.out)
    assert "libossc_preload.so" in checks["library"][1]
    assert "signed listing" in checks["access"][1]
    assert r.out.rstrip().endswith("all checks passed")


def test_bucket_from_oss_path_and_none(ossc, bucket, monkeypatch):
    monkeypatch.setenv("OSS_PATH", f"oss://{bucket}/models/")
    r = ossc("doctor")
    assert r.code == 0 and lines(r.out)["access"][0] == "ok"
    monkeypatch.delenv("OSS_PATH")
    r = ossc("doctor")
    assert r.code == 0 and lines(r.out)["access"][0] == "skip"
    assert "ossc doctor oss://bucket/prefix/" in r.out


@pytest.mark.parametrize("secret,key_id,words", [
    ("wrong", None, "access key secret is wrong"),
    (None, "NOSUCHKEY", "access key id is not known"),
])
def test_bad_credentials(ossc, emu, bucket, tmp_path, secret, key_id, words):
    cred = tmp_path / "cred"
    cred.write_text(json.dumps({"AccessKeyId": key_id or emu.access_key_id,
                                "AccessKeySecret": secret or emu.access_key_secret}))
    os.chmod(cred, 0o600)
    r = ossc("--cred-path", str(cred), "doctor", f"oss://{bucket}/")
    assert r.code == 1
    status, text = lines(r.out)["access"]
    assert status == "FAIL" and words in text, r.out


def test_credential_file_problems(ossc, emu, bucket, tmp_path):
    missing = ossc("--cred-path", str(tmp_path / "none"), "doctor", f"oss://{bucket}/")
    assert missing.code == 1 and "no such file" in lines(missing.out)["credentials"][1]
    broken = tmp_path / "broken"
    broken.write_text('{"AccessKeyId": "x", "AccessKeySecret": "s3cr3t-value"')
    r = ossc("--cred-path", str(broken), "doctor")
    assert r.code == 1 and "not valid JSON" in r.out and "s3cr3t" not in r.out
    expired = tmp_path / "expired"
    expired.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                   "AccessKeySecret": emu.access_key_secret,
                                   "SecurityToken": "t", "Expiration": "2020-01-01T00:00:00Z"}))
    r = ossc("--cred-path", str(expired), "doctor")
    assert r.code == 1 and "expired at 2020-01-01T00:00:00Z" in lines(r.out)["credentials"][1]
    loose = tmp_path / "loose"
    loose.write_text(json.dumps({"AccessKeyId": emu.access_key_id,
                                 "AccessKeySecret": emu.access_key_secret}))
    os.chmod(loose, 0o644)
    r = ossc("--cred-path", str(loose), "doctor", f"oss://{bucket}/")
    assert r.code == 0 and "readable by other users" in r.out and "chmod 600" in r.out


def test_environment_credentials(ossc, emu, bucket, monkeypatch):
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", emu.access_key_id)
    r = ossc("--endpoint", emu.endpoint, "doctor", connect=False)
    assert r.code == 1 and "OSS_ACCESS_KEY_SECRET is not" in r.out
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", emu.access_key_secret)
    r = ossc("--endpoint", emu.endpoint, "doctor", f"oss://{bucket}/", connect=False)
    assert r.code == 0, r.out
    assert "from the environment" in lines(r.out)["credentials"][1]


def test_bad_config(ossc, emu, tmp_path, cred_file):
    bad = tmp_path / "bad.json"
    bad.write_text('{"logLevel": 1 "prefetch": {}}')
    r = ossc("--config", str(bad), "doctor", connect=False)
    assert r.code == 1
    status, text = lines(r.out)["config"]
    assert status == "FAIL" and "line 1" in text and "malformed JSON" in text
    out_of_range = tmp_path / "range.json"
    out_of_range.write_text('{"prefetch": {"vcpus": 0}}')
    r = ossc("--endpoint", emu.endpoint, "--cred-path", cred_file, "--config",
             str(out_of_range), "doctor", connect=False)
    assert r.code == 1
    status, text = lines(r.out)["config"]
    assert status == "FAIL" and "prefetch.vcpus" in text, r.out
    r = ossc("--config", str(tmp_path / "missing.json"), "doctor", connect=False)
    assert r.code == 1 and "no such file" in lines(r.out)["config"][1]


def test_unwritable_log_directory_is_a_warning(ossc, bucket, tmp_path):
    from tests_helpers import write_config

    cfg = write_config(tmp_path, logPath="/proc/forbidden/connector.log")
    r = ossc("--config", cfg, "doctor", f"oss://{bucket}/")
    assert r.code == 0 and lines(r.out)["log"][0] == "warn", r.out


def test_unreachable_endpoint(ossc, cred_file, config_file):
    r = ossc("--endpoint", "http://127.0.0.1:1", "--cred-path", cred_file, "--config",
             config_file, "doctor", "oss://b/", connect=False)
    assert r.code == 1
    assert lines(r.out)["endpoint"][0] == "FAIL" and "does not answer" in r.out
    assert lines(r.out)["access"][0] == "skip"
    r = ossc("--endpoint", "no-such-host.invalid", "--cred-path", cred_file, "doctor",
             connect=False)
    assert r.code == 1 and "does not resolve" in lines(r.out)["endpoint"][1]
    r = ossc("--cred-path", cred_file, "doctor", connect=False)
    assert r.code == 1 and "no endpoint given" in r.out


def test_clock_skew(ossc, bucket, monkeypatch):
    from ossconnector.cli import doctor

    monkeypatch.setattr(doctor, "_now", lambda: time.time() + 3600)
    r = ossc("doctor", f"oss://{bucket}/")
    assert r.code == 1
    status, text = lines(r.out)["clock"]
    assert status == "FAIL" and re.search(r"\b3[56]\d\d s ahead of the server", text)
    assert "NTP" in text
    monkeypatch.setattr(doctor, "_now", lambda: time.time() - 120)
    r = ossc("doctor", f"oss://{bucket}/")
    assert r.code == 0 and lines(r.out)["clock"][0] == "warn"
    assert re.search(r"\b1[12]\d s behind", lines(r.out)["clock"][1])


def test_cache_root(ossc, bucket, tmp_path, monkeypatch):
    """The cache root is checked by the library's own rules (each refusal
    named), then described: its file system, room and page size."""
    good = tmp_path / "cache"
    good.mkdir(mode=0o700)
    monkeypatch.setenv("OSSC_CACHE_DIR", str(good))
    status, text = lines(ossc("doctor", f"oss://{bucket}/").out)["cache"]
    assert status in ("ok", "warn") and text.startswith(f"{good} (OSSC_CACHE_DIR): ")
    assert "GiB free of" in text
    if status == "ok":   # a tmpfs: says whether its pages may be huge
        assert "4 KiB pages" in text or "huge pages allowed" in text, text

    # missing: the library makes it, where it can
    monkeypatch.setenv("OSSC_CACHE_DIR", str(tmp_path / "later"))
    status, text = lines(ossc("doctor", f"oss://{bucket}/").out)["cache"]
    assert status == "ok" and "does not exist yet: the library creates it" in text, text

    link = tmp_path / "link"
    link.symlink_to(good)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    for path, words in ((tmp_path / "no" / "such" / "dir", "this user cannot create it"),
                        (link, "is a symlink or not a directory"),
                        (f"{link}/", "is a symlink or not a directory"),
                        (shared, "writable by others and not sticky (mode 0777)")):
        monkeypatch.setenv("OSSC_CACHE_DIR", str(path))
        r = ossc("doctor", f"oss://{bucket}/")
        status, text = lines(r.out)["cache"]
        assert r.code == 1 and status == "FAIL", r.out
        assert text.startswith(f"{path} (OSSC_CACHE_DIR)") and words in text, text


def test_mountinfo_parsing():
    """The mount a path is on: the longest mount point above it, the later
    of two on one point, escaped names, the super block's options."""
    from ossconnector.cli._mounts import mount_of

    info = "\n".join([
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw",
        "30 22 0:25 / /dev/shm rw,nosuid - tmpfs tmpfs rw,size=100k",
        "31 22 0:26 / /dev/shm rw - tmpfs tmpfs rw,size=200k,huge=within_size",
        r"32 22 0:27 / /mnt/with\040space rw master:2 - tmpfs none rw,huge=always",
        "garbage line",
    ])
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".mountinfo", delete=False) as f:
        f.write(info)
    try:
        shm = mount_of("/dev/shm/x", f.name)
        assert shm.point == "/dev/shm" and shm.options["huge"] == "within_size"
        assert mount_of("/mnt/with space/y", f.name).options["huge"] == "always"
        assert mount_of("/usr", f.name).fstype == "ext4"
        assert mount_of("/dev/shmx", f.name).point == "/"
    finally:
        os.unlink(f.name)
    assert mount_of("/", "/nonexistent/mountinfo") is None
