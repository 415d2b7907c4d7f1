"""The prefetch runs below the application's priority (config key
``prefetch.nice``, default 10): its I/O threads and the prefetch thread are
reniced, the application's threads are not, an application that runs
niced already is never raised, and a value out of range is a clear error
naming the key."""

import json
import sys

from preload_helpers import preload_env, run

THREAD_NICE = """
import json, os
d = os.environ['MODEL_DIR']
names = sorted(n for n in os.listdir(d) if n.endswith('.safetensors'))
with open(os.path.join(d, names[0]), 'rb') as f:   # the engine is running now
    f.read(16)
nice = {}
for tid in os.listdir('/proc/self/task'):
    with open(f'/proc/self/task/{tid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    nice[tid] = int(fields[16])   # field 19 of stat(5), counted after "(comm)"
print(json.dumps({"main": nice[str(os.getpid())], "all": sorted(nice.values())}))
"""


def thread_nice(emu, bucket, toy_model, tmp_path, config=None, app_nice=0):
    m = toy_model
    extra = {}
    if config is not None:
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config))
        extra["OSS_CONNECTOR_CONFIG"] = path
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"], **extra)
    cmd = ["nice", "-n", str(app_nice), sys.executable, "-c", THREAD_NICE]
    return json.loads(run(cmd, env).stdout)


def test_prefetch_threads_run_below_the_application(emu, bucket, toy_model, tmp_path):
    res = thread_nice(emu, bucket, toy_model, tmp_path)
    assert res["main"] == 0
    # 16 I/O threads by default (prefetch.vcpus), the prefetch thread while it runs
    assert res["all"].count(10) >= 16, res
    assert 0 in res["all"]


def test_prefetch_nice_zero_keeps_the_application_priority(emu, bucket, toy_model, tmp_path):
    res = thread_nice(emu, bucket, toy_model, tmp_path,
                      {"prefetch": {"vcpus": 3, "nice": 0}, "logPath": str(tmp_path / "log")})
    assert set(res["all"]) == {0}, res


def test_a_niced_application_is_never_raised(emu, bucket, toy_model, tmp_path):
    res = thread_nice(emu, bucket, toy_model, tmp_path, app_nice=15)
    assert set(res["all"]) == {15}, res


def test_prefetch_nice_out_of_range_names_the_key(emu, bucket, toy_model, tmp_path):
    m = toy_model
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"prefetch": {"nice": 25}}))
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"],
                      OSS_CONNECTOR_CONFIG=path)
    proc = run("import os; print(sorted(os.listdir(os.environ['MODEL_DIR'])))", env, check=False)
    assert "prefetch.nice" in proc.stderr, proc.stderr
