"""Every byte served through LD_PRELOAD is checked: a large file's chunks'
CRC-64s, combined as they land, must equal the object's
x-oss-hash-crc64ecma before any byte of it is read, mapped or copied.  A
mismatch refetches the file once; a second one makes every read EIO, with
the key in the log and on stderr -- never the wrong bytes."""

import hashlib
import json

from preload_helpers import preload_env, run

WEIGHT = "model-00002-of-00003.safetensors"


def small_parts_config(tmp_path):
    """Chunks of 100 KiB: a toy shard spans several, so the file's CRC is
    combined from chunk CRCs (a single-chunk read of the whole object is
    also checked by the engine itself)."""
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"logPath": str(tmp_path / "connector.log"), "auditPath": "",
                               "http": {"partSize": 102400}}))
    return str(cfg)


def corrupt_env(emu, bucket, m, tmp_path, count):
    key = m["prefix"] + WEIGHT
    assert len(m["files"][WEIGHT]) > 3 * 102400  # several chunks
    emu.faults.corrupt(offset=5, length=3, count=count, bucket=bucket, key=key, method="GET")
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_CONNECTOR_CONFIG=small_parts_config(tmp_path))
    return key, env


def test_corrupted_weight_file_fails_sha256sum_with_eio(emu, bucket, toy_model, tmp_path):
    m = toy_model
    key, env = corrupt_env(emu, bucket, m, tmp_path, count=1000)
    try:
        proc = run(["sha256sum", str(m["model_dir"] / WEIGHT)], env, check=False)
    finally:
        emu.faults.clear()
    assert proc.returncode != 0, proc.stdout
    assert proc.stdout == ""  # no hash at all, so no wrong one
    assert "Input/output error" in proc.stderr, proc.stderr
    assert f"oss://{bucket}/{key}" in proc.stderr, proc.stderr
    log = (tmp_path / "connector.log").read_text()
    assert f"oss://{bucket}/{key}" in log and "CORRUPT" in log, log


def test_corrupted_range_read_raises_eio(emu, bucket, toy_model, tmp_path):
    """seek(1000); read(5000), pread and mmap: OSError EIO, no bytes."""
    m = toy_model
    key, env = corrupt_env(emu, bucket, m, tmp_path, count=1000)
    code = f"""
import errno, json, mmap, os
path = os.path.join(os.environ['MODEL_DIR'], {WEIGHT!r})
res = {{}}
with open(path, 'rb') as f:
    f.seek(1000)
    try:
        res['read'] = len(f.read(5000))
    except OSError as e:
        res['read'] = errno.errorcode[e.errno]
    try:
        res['pread'] = len(os.pread(f.fileno(), 100, 300000))
    except OSError as e:
        res['pread'] = errno.errorcode[e.errno]
    try:
        res['mmap'] = len(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    except OSError as e:
        res['mmap'] = errno.errorcode[e.errno]
print(json.dumps(res))
"""
    try:
        proc = run(code, env)
    finally:
        emu.faults.clear()
    assert json.loads(proc.stdout) == {"read": "EIO", "pread": "EIO", "mmap": "EIO"}
    assert proc.stderr.count(f"oss://{bucket}/{key}") == 1, proc.stderr  # once per process


def test_corruption_on_first_fetch_is_healed_by_refetch(emu, bucket, toy_model, tmp_path):
    m = toy_model
    key, env = corrupt_env(emu, bucket, m, tmp_path, count=1)
    try:
        proc = run(["sha256sum", str(m["model_dir"] / WEIGHT)], env)
    finally:
        emu.faults.clear()
    assert proc.stdout.split()[0] == hashlib.sha256(m["files"][WEIGHT]).hexdigest()
    log = (tmp_path / "connector.log").read_text()
    assert f"oss://{bucket}/{key}" in log and "fetching the file again" in log, log


def test_every_file_verified_bytes_exact(emu, bucket, toy_model, tmp_path):
    """No fault: every file reads exactly, each verified (and said so at
    debug level) without a single mismatch."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_CONNECTOR_CONFIG=small_parts_config(tmp_path))
    names = sorted(m["files"])
    proc = run(["sha256sum"] + [str(m["model_dir"] / n) for n in names], env)
    got = {line.split()[1].rsplit("/", 1)[1]: line.split()[0] for line in proc.stdout.splitlines()}
    assert got == {n: hashlib.sha256(m["files"][n]).hexdigest() for n in names}
    assert "mismatch" not in (tmp_path / "connector.log").read_text()
