"""The wheel: what it carries, and a smoke test in a fresh virtual
environment (no system site-packages, so the development install of this
checkout cannot leak in) against the emulator, which runs from the test
environment; the venv only runs the client."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import venv
import zipfile

import pytest


def run(cmd, env, check=True, **kw):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr[-4000:]}")
    return proc


def test_wheel_contents(dist):
    assert dist["wheel"], f"no ossconnector-{dist['version']}-*.whl in {dist['dir']}"
    with zipfile.ZipFile(dist["wheel"]) as z:
        names = z.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = z.read(entry_points).decode()
    for required in ("ossconnector/libossc_preload.so", "ossconnector/client.py",
                     "ossconnector/preload.py", "ossconnector/cli/__init__.py",
                     "ossconnector/cli/cp.py", "ossconnector/emulator/__main__.py",
                     "ossconnector/model/__init__.py", "ossconnector/datasets/__init__.py",
                     "ossconnector/checkpoint/__init__.py", "osstorchconnector/__init__.py",
                     "ossmodelconnector/__init__.py", "ossconnector/vllm_plugin/__init__.py",
                     "ossconnector/vllm_plugin/loader.py"):
        assert required in names, required
    assert any(n.startswith("ossconnector/_ossc_ffi.") and n.endswith(".so") for n in names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "ossc = ossconnector.cli:main" in scripts
    # vLLM finds the plugin through this entry point (docs/vllm.md).
    assert "[vllm.general_plugins]\nossc = ossconnector.vllm_plugin:register" in scripts


@pytest.fixture(scope="module")
def wheel_venv(dist, tmp_path_factory):
    """A fresh venv with the wheel and cffi installed; returns its bin dir."""
    assert dist["wheel"], f"no wheel in {dist['dir']}"
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(str(root))
    bindir = root / "bin"
    env = _clean_env()
    run([str(bindir / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "cffi>=1.15", dist["wheel"]], env)
    return bindir


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "OSS_CONNECTOR_CONFIG")}
    env.update(extra)
    return env


SMOKE = r"""
import json, os, sys
import ossconnector, ossconnector.preload
from ossconnector import Client

prefix = sys.prefix
assert ossconnector.__file__.startswith(prefix), ossconnector.__file__
lib = ossconnector.preload.library_path()
assert lib.startswith(prefix) and os.path.isfile(lib), lib

args = json.loads(sys.argv[1])
c = Client(args["endpoint"], cred_path=args["cred"], config_path=args["config"])
data = os.urandom(3 * (1 << 20) + 12345)        # several parts: multipart upload, ranged GETs
uri = f"oss://{args['bucket']}/smoke/blob.bin"
c.put(uri, data)
assert c.get(uri) == data
assert c.stat(uri).size == len(data)
with c.open(uri) as r:
    buf = bytearray(1000)
    r.seek(2 << 20)
    assert r.readinto(buf) == 1000 and bytes(buf) == data[2 << 20:(2 << 20) + 1000]
assert [e.key for e in c.list(f"oss://{args['bucket']}/smoke/")] == ["smoke/blob.bin"]
try:
    c.stat(f"oss://{args['bucket']}/smoke/missing")
except FileNotFoundError:
    pass
else:
    raise AssertionError("missing object found")
import osstorchconnector, ossmodelconnector             # drop-in names import without torch
assert ossmodelconnector.OssModelConnector
c.close()
print("smoke ok", lib)
"""


def test_wheel_smoke_in_fresh_venv(wheel_venv, emu, bucket, cred_file, config_file, tmp_path):
    py = str(wheel_venv / "python")
    env = _clean_env()
    args = json.dumps({"endpoint": emu.endpoint, "cred": cred_file, "config": config_file,
                       "bucket": bucket})
    out = run([py, "-c", SMOKE, args], env, cwd=str(tmp_path)).stdout
    assert out.startswith("smoke ok ")

    # python -m ossconnector.preload: the bundled library, inside the venv.
    lib = run([py, "-m", "ossconnector.preload"], env, cwd=str(tmp_path)).stdout.strip()
    assert lib.startswith(str(wheel_venv.parent)) and os.path.isfile(lib), lib

    # The console script.
    ossc = str(wheel_venv / "ossc")
    conn = ["--endpoint", emu.endpoint, "--cred-path", cred_file, "--config", config_file]
    assert run([ossc, "--version"], env).stdout.startswith("ossc (ossconnector) ")
    local = tmp_path / "up.bin"
    local.write_bytes(os.urandom(200_000))
    run([ossc, *conn, "cp", str(local), f"oss://{bucket}/smoke/up.bin"], env)
    listing = run([ossc, *conn, "ls", f"oss://{bucket}/smoke/"], env).stdout.split()
    assert listing == [f"oss://{bucket}/smoke/blob.bin", f"oss://{bucket}/smoke/up.bin"]
    missing = run([ossc, *conn, "stat", f"oss://{bucket}/smoke/none"], env, check=False)
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_wheel_library_preloads(wheel_venv, emu, bucket, tmp_path):
    """The wheel's library works as an LD_PRELOAD interposer by itself."""
    env = _clean_env()
    lib = run([str(wheel_venv / "python"), "-m", "ossconnector.preload"], env).stdout.strip()
    weights = os.urandom(300_000)
    emu.put_object(bucket, "m/w.safetensors", weights)
    emu.put_object(bucket, "m/config.json", b"{}")
    env.update(LD_PRELOAD=lib, ENABLE_CONNECTOR="1", OSS_ENDPOINT=emu.endpoint,
               OSS_ACCESS_KEY_ID=emu.access_key_id, OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
               OSS_PATH=f"oss://{bucket}/m/", MODEL_DIR=str(tmp_path / "model"),
               OSSC_CACHE_DIR=str(tmp_path / "cache"), OSSC_SMALL_FILE_SIZE="64K",
               OSS_CONNECTOR_CONFIG=_config(tmp_path))
    out = run(["sha256sum", str(tmp_path / "model" / "w.safetensors")], env).stdout
    assert out.split()[0] == hashlib.sha256(weights).hexdigest()


def _config(tmp_path):
    path = tmp_path / "preload-config.json"
    path.write_text(json.dumps({"logPath": str(tmp_path / "c.log"),
                                "auditPath": str(tmp_path / "a.log")}))
    return str(path)


def test_no_system_site_packages(wheel_venv):
    cfg = (wheel_venv.parent / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    assert sys.prefix not in str(wheel_venv)
