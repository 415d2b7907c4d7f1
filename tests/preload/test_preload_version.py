"""A large file in MODEL_DIR is one version of its object: every chunk is
fetched with If-Match the ETag its HEAD gave when MODEL_DIR was prepared.
An object replaced while the model loads fails the reads that need chunks
of the new version (ESTALE, the key named on stderr and in the log)
instead of serving a file that splices two versions -- which the file's
CRC check cannot catch where the store sends no CRC (old objects, other
S3-compatible stores), and which it would otherwise only catch after
fetching the whole file twice.

The replacement happens while a chunk's GET is held at the server (the
emulator's ``hold`` fault): no timer decides the order."""

import hashlib
import json
import subprocess

import pytest

from preload_helpers import preload_env
from tests_helpers import wait_until

WEIGHT = "model-00002-of-00003.safetensors"


def _config(tmp_path):
    """Chunks of 100 KiB (a toy shard spans several)."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"logPath": str(tmp_path / "connector.log"), "auditPath": "",
                               "http": {"partSize": 102400}}))
    return str(cfg)


def _sha256sum_held(emu, bucket, key, path, env, while_held=lambda: None):
    """Runs sha256sum on path under env while the server holds the first
    GET of key; calls while_held once that GET is known to be held (the
    event: no timer), then releases it.  Returns (exit status, stdout,
    stderr)."""
    emu.faults.hold(count=1, bucket=bucket, key=key, method="GET")
    proc = subprocess.Popen(["sha256sum", str(path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: emu.faults.held() >= 1, "a GET held at the server", proc=proc)
        while_held()
    finally:
        emu.faults.release()
        out, err = proc.communicate(timeout=300)
        emu.faults.clear()
    return proc.returncode, out, err


@pytest.mark.parametrize("with_crc", [False, True], ids=["no-crc", "crc"])
def test_object_replaced_while_loading_is_refused(emu, bucket, toy_model, tmp_path, with_crc):
    m = toy_model
    key = m["prefix"] + WEIGHT
    old = m["files"][WEIGHT]
    assert len(old) > 3 * 102400  # several chunks
    new = bytes(b ^ 0x5A for b in old)  # same size: only the version tells them apart
    emu.put_object(bucket, key, old, crc64_header=with_crc)
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_CONNECTOR_CONFIG=_config(tmp_path))
    rc, out, err = _sha256sum_held(
        emu, bucket, key, m["model_dir"] / WEIGHT, env,
        while_held=lambda: emu.put_object(bucket, key, new, crc64_header=with_crc))
    assert rc != 0, out
    assert out == ""  # no hash at all, so none of a spliced file
    assert f"oss://{bucket}/{key}" in err, err
    log = (tmp_path / "connector.log").read_text()
    assert "replaced" in log and f"oss://{bucket}/{key}" in log, log


def test_object_not_replaced_loads_with_the_pin(emu, bucket, toy_model, tmp_path):
    """Control: the same hold, nothing replaced; the file is the object's
    bytes (the If-Match of every chunk is the HEAD's ETag)."""
    m = toy_model
    key = m["prefix"] + WEIGHT
    emu.put_object(bucket, key, m["files"][WEIGHT], crc64_header=False)
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_CONNECTOR_CONFIG=_config(tmp_path))
    rc, out, err = _sha256sum_held(emu, bucket, key, m["model_dir"] / WEIGHT, env)
    assert rc == 0, err
    assert out.split()[0] == hashlib.sha256(m["files"][WEIGHT]).hexdigest()
