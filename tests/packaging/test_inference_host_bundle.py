"""The inference-host benchmark bundle (scripts/bench/inference_host/, issue
17) still builds and runs: a session lent a GPU host has minutes on it and
must not spend them finding the bundle broken.  Here: build_bundle.sh into a
scratch folder, then run.sh with a tiny model, CPU rows only, as the host
would (its own copy of the library and curl, unpacked from the bundle).
Every row must load the model correctly; the timings are not judged."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLE_DIR = os.path.join(ROOT, "scripts", "bench", "inference_host")


def test_bundle_builds_and_loads_a_model(tmp_path):
    for tool in ("meson", "ninja", "patchelf", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (scripts/install-deps.sh)")
    pytest.importorskip("localbucket")
    bundle = tmp_path / "bundle"
    build = subprocess.run(["bash", os.path.join(BUNDLE_DIR, "build_bundle.sh"), str(bundle)],
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    for name in ("run.sh", "host_bench.py", "rt/libossc_preload.so", "rt/lib.tar.xz",
                 "BUNDLE.txt"):
        assert (bundle / name).exists(), name
    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(os.environ, SIZE_GIB="0.0625", SHARDS="2", ROUNDS="1", NO_CUDA="1",
               OUT=str(out), WORK=str(work), BUDGET_S="600")
    for var in ("LD_PRELOAD", "ENABLE_CONNECTOR", "OSS_CONNECTOR_CONFIG"):
        env.pop(var, None)
    run = subprocess.run(["bash", str(bundle / "run.sh")], env=env, capture_output=True,
                         text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["final"] and not result["errors"], result["errors"]
    runs = {r["client"]: r for r in result["runs"]}
    assert {"floor_cpu", "ours_cpu", "wire", "wire_ram"} <= set(runs), sorted(runs)
    assert all(r["ok"] for r in result["runs"]), result["runs"]
    assert "| ours_cpu | 1/1 |" in (out / "summary.txt").read_text()
