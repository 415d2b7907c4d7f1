"""Runs the C program libpreload/tests/live_engine.c against the emulator:
the engine's C API end to end, once per build (normal and ASan+UBSan).

`make test` lists the binaries in OSSC_LIVE_ENGINE_BINS (colon-separated);
run alone without it, the test looks in build/ and build-asan/."""

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _binaries():
    listed = os.environ.get("OSSC_LIVE_ENGINE_BINS")
    if listed:
        return [pathlib.Path(p) for p in listed.split(":") if p]
    found = [ROOT / d / "libpreload/tests/live_engine" for d in ("build", "build-asan")]
    return [p for p in found if p.exists()]


BINARIES = _binaries()


@pytest.mark.skipif(not BINARIES, reason="live_engine not built (run `make test-c`)")
@pytest.mark.parametrize("binary", BINARIES, ids=lambda p: p.parent.parent.parent.name)
@pytest.mark.parametrize("signing", ["v1", "v4"])
def test_live_engine(binary, signing, emu, bucket, tmp_path):
    from tests_helpers import write_config_file

    assert binary.exists(), f"{binary} was listed but not built"
    cfg = write_config_file(tmp_path, checkpointConfig={"uploadConcurrency": 3})
    env = dict(os.environ,
               OSSC_TEST_ENDPOINT=emu.endpoint,
               OSSC_TEST_BUCKET=bucket,
               OSS_ACCESS_KEY_ID=emu.access_key_id,
               OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
               OSSC_TEST_CONFIG=cfg,
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               ASAN_OPTIONS="detect_leaks=1")
    if signing == "v4":
        env["OSSC_TEST_REGION"] = emu.region
    proc = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 failed" in proc.stdout
