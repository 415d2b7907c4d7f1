"""The cache outlives no process: processes that leave without exit
handlers (os._exit, dash after a command, SIGKILL) still get the cache and
the placeholders removed, by the watcher the first process started; and the
watcher never keeps the application's pipes open."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from preload_helpers import preload_env, run

ONLY_SMALL_FILES = [".ossc-manifest", "config.json", "model.safetensors.index.json"]


def wait_until(check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def cleaned(m) -> bool:
    return (not os.path.exists(m["cache"]) or os.listdir(m["cache"]) == []) and \
        sorted(os.listdir(m["model_dir"])) == ONLY_SMALL_FILES


def test_exit_without_exit_handlers_is_cleaned_up(emu, bucket, toy_model):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    shard = m["model_dir"] / "model-00001-of-00003.safetensors"
    code = f"import os; open({str(shard)!r}, 'rb').read(64); os._exit(0)"
    run(code, env)
    assert wait_until(lambda: cleaned(m)), (os.listdir(m["cache"]), os.listdir(m["model_dir"]))


def test_dash_running_a_command_is_cleaned_up(emu, bucket, toy_model):
    """dash runs the last command of `sh -c` and leaves with _exit."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    shard = m["model_dir"] / "model-00002-of-00003.safetensors"
    proc = run(["dash", "-c", f"cat {shard} | wc -c"], env)
    assert int(proc.stdout) == len(m["files"]["model-00002-of-00003.safetensors"])
    assert wait_until(lambda: cleaned(m)), (os.listdir(m["cache"]), os.listdir(m["model_dir"]))


def test_killed_users_and_pipes(emu, bucket, toy_model):
    """The first process (which starts the watcher) leaves while a second
    one still uses the cache: its stdout reaches EOF at once (the watcher
    holds none of its descriptors) and the cache stays.  Then the second is
    SIGKILLed: the watcher removes the cache and the placeholders."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    shard = m["model_dir"] / "model-00003-of-00003.safetensors"
    hold = (f"import sys; f = open({str(shard)!r}, 'rb'); f.read(16); print('ready', flush=True); "
            "sys.stdin.readline()")
    first = subprocess.Popen([sys.executable, "-c", hold], env=env, text=True,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    second = None
    try:
        assert first.stdout.readline().strip() == "ready"
        second = subprocess.Popen([sys.executable, "-c", hold], env=env, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert second.stdout.readline().strip() == "ready"

        out, _ = first.communicate("\n", timeout=30)  # EOF although the watcher lives on
        assert first.returncode == 0
        assert os.listdir(m["cache"]) != []
        assert shard.exists()

        second.send_signal(signal.SIGKILL)
        second.wait(timeout=30)
        assert wait_until(lambda: cleaned(m)), (os.listdir(m["cache"]),
                                                os.listdir(m["model_dir"]))
    finally:
        for p in (first, second):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def holders_of(directory) -> set[int]:
    """The processes with a descriptor open on a file in ``directory``."""
    pids = set()
    prefix = os.path.realpath(directory) + os.sep
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue            # gone, or not ours to look into
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(prefix):
                    pids.add(int(pid))
                    break
            except OSError:
                pass
    return pids


def test_threads_and_watcher_are_named(emu, bucket, toy_model):
    """Every thread the library starts in the application is named ossc-...
    (top -H, ps -L, perf), and the watcher process is ossc-watcher, so none
    passes for the application's own."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    shard = m["model_dir"] / "model-00001-of-00003.safetensors"
    # The names are read once the first I/O thread has named itself (it
    # does so as it starts, maybe after the read that made it work).
    hold = (f"import os, sys, time; f = open({str(shard)!r}, 'rb'); f.read(16)\n"
            "def names():\n"
            "    out = []\n"
            "    for t in os.listdir('/proc/self/task'):\n"
            "        try:\n"
            "            out.append(open(f'/proc/self/task/{t}/comm').read().strip())\n"
            "        except OSError:\n"
            "            pass\n"
            "    return sorted(out)\n"
            "deadline = time.monotonic() + 60\n"
            "while 'ossc-io-0' not in names() and time.monotonic() < deadline:\n"
            "    time.sleep(0.01)\n"
            "print(' '.join(names()), flush=True); sys.stdin.readline()")
    app = subprocess.Popen([sys.executable, "-c", hold], env=env, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        names = app.stdout.readline().split()
        assert "ossc-io-0" in names, names
        ours = [n for n in names if n.startswith("ossc-")]
        assert all(n == "ossc-prefetch" or re.fullmatch(r"ossc-io-\d+", n) for n in ours), names
        watchers = holders_of(m["cache"]) - {app.pid}
        assert watchers, "no process other than the application holds the cache"
        for pid in watchers:
            with open(f"/proc/{pid}/comm") as f:
                assert f.read().strip() == "ossc-watcher", pid
        app.communicate("\n", timeout=30)
        assert app.returncode == 0
        assert wait_until(lambda: cleaned(m)), (os.listdir(m["cache"]),
                                                os.listdir(m["model_dir"]))
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
