"""MODEL_DIR mirroring against a hostile or careless neighbour, and failed
preparations.

The connector deletes only what its manifest names, so the manifest and
MODEL_DIR itself are attack surface: a MODEL_DIR another user owns or can
write, a forged manifest, a symlink for MODEL_DIR or planted inside it must
never make it delete, write or create a file outside MODEL_DIR.  And a
preparation that fails must leave no placeholder behind, since without the
interposer a placeholder reads as zeros."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from ossconnector.emulator.testing import running_emulator
from preload_helpers import fast_fail_config, preload_env, run, upload
from tests_helpers import reaped

SMALL = 64 * 1024  # preload_env's OSSC_SMALL_FILE_SIZE
# Listed in this order: the large file comes before the small files, so a
# mirror that makes placeholders as it lists has made one when a small
# file fails.
MODEL = {
    "a-weights.bin": bytes(range(256)) * (4 * SMALL // 256),
    "config.json": b'{"model_type": "toy"}',
    "sub/tokenizer.json": b'{"vocab": [1, 2, 3]}',
}

# Reads every model file under the (possibly inert) interposer: its length,
# whether it is all zeros, or the errno.
READ_MODEL = """
import errno, json, os, sys
d = os.environ['MODEL_DIR']
res = {}
for rel in sys.argv[1:]:
    try:
        with open(os.path.join(d, rel), 'rb') as f:
            data = f.read()
        res[rel] = {'len': len(data), 'zeros': data.count(0) == len(data)}
    except OSError as e:
        res[rel] = errno.errorcode.get(e.errno, str(e.errno))
print(json.dumps(res))
"""


def read_model(env):
    return json.loads(run([sys.executable, "-c", READ_MODEL, *MODEL], env).stdout)


def assert_model_served(res):
    for rel, data in MODEL.items():
        assert res[rel] == {"len": len(data), "zeros": False}, (rel, res)


def tree(path):
    """Every entry below path (not following links) with its kind and bytes."""
    out = {}
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = os.path.join(root, name)
            rel = os.path.relpath(p, path)
            if os.path.islink(p):
                out[rel] = ("link", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("dir",)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", f.read())
    return out


@pytest.fixture
def model(emu, bucket):
    upload(emu, bucket, "m/", MODEL)
    return "m/"


@pytest.fixture
def arena(tmp_path):
    """A shared, sticky directory like /tmp, where another user can plant
    things, and a victim directory of root's beside it."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared, 0o1777)
    victim = shared / "victim"
    victim.mkdir(mode=0o700)
    (victim / "important.txt").write_text("root's secret")
    (victim / "tokenizer.json").write_text("root's tokenizer")
    os.chmod(victim / "important.txt", 0o600)
    return shared


def victim_intact(arena):
    victim = arena / "victim"
    return tree(victim) == {"important.txt": ("file", b"root's secret"),
                            "tokenizer.json": ("file", b"root's tokenizer")}


# ------------------------------------------------------ defect 1: ownership


def test_forged_manifest_in_another_users_dir_is_refused(emu, bucket, model, arena, other_user,
                                                         tmp_path):
    """The issue's repro: uid 54321 prepares /tmp/evilmodel with a manifest
    naming root's file; root's run deletes nothing and writes nothing
    there, says why, and the program runs normally."""
    evil = arena / "evilmodel"
    other_user.run(["mkdir", str(evil)])
    other_user.run(["sh", "-c",
                    f"printf '#x\\n../victim/important.txt\\n' > {evil}/.ossc-manifest"])
    before = tree(evil)
    env = preload_env(emu, bucket, model, evil, tmp_path / "cache")
    proc = run(["/bin/sh", "-c", "echo still-running"], env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "still-running"
    assert victim_intact(arena)
    assert tree(evil) == before  # nothing written into the attacker's directory
    assert f"MODEL_DIR {evil} belongs to uid {other_user.uid}" in proc.stderr, proc.stderr


def test_model_dir_writable_by_others_is_refused(emu, bucket, model, arena, tmp_path):
    shared_dir = arena / "model"
    shared_dir.mkdir()
    os.chmod(shared_dir, 0o777)
    env = preload_env(emu, bucket, model, shared_dir, tmp_path / "cache")
    proc = run(["/bin/true"], env, timeout=120)
    assert "writable by group or others (mode 0777)" in proc.stderr, proc.stderr
    assert "chmod go-w" in proc.stderr
    assert os.listdir(shared_dir) == []


@pytest.mark.parametrize("entry", ["../victim/important.txt", "ABSOLUTE", "sub//tokenizer.json",
                                   "./config.json", "sub/../../victim/important.txt"])
def test_manifest_with_unsafe_entries_is_refused(emu, bucket, model, arena, tmp_path, entry):
    """A manifest in a directory of ours that names something outside it
    (or a path with '.', '..' or empty components): refused with the
    manifest's name and line; nothing deleted or written."""
    if entry == "ABSOLUTE":
        entry = str(arena / "victim" / "important.txt")
    model_dir = arena / "model"
    model_dir.mkdir(mode=0o755)
    (model_dir / ".ossc-manifest").write_text(
        f"# oss-connector manifest v1\nconfig.json\n{entry}\n")
    before = tree(model_dir)
    env = preload_env(emu, bucket, model, model_dir, tmp_path / "cache")
    proc = run(["/bin/true"], env, timeout=120)
    assert f"{model_dir}/.ossc-manifest line 3" in proc.stderr, proc.stderr
    assert "nothing in MODEL_DIR was deleted or written" in proc.stderr
    assert victim_intact(arena)
    assert tree(model_dir) == before


def test_model_dir_that_is_a_symlink_is_refused(emu, bucket, model, arena, other_user, tmp_path):
    """Another user points the expected MODEL_DIR path at root's directory:
    nothing is written through the link."""
    link = arena / "model"
    other_user.run(["ln", "-s", str(arena / "victim"), str(link)])
    env = preload_env(emu, bucket, model, link, tmp_path / "cache")
    proc = run(["/bin/true"], env, timeout=120)
    assert f"MODEL_DIR {link} is a symbolic link" in proc.stderr, proc.stderr
    assert victim_intact(arena)
    assert os.readlink(link) == str(arena / "victim")


@pytest.mark.parametrize("file_first", [False, True])
def test_symlink_planted_inside_model_dir_is_never_followed(emu, bucket, model, arena, tmp_path,
                                                            file_first):
    """Between two runs, a subdirectory the connector made is replaced by a
    link to a victim directory holding a file of the same name: the next
    run removes the link itself (never the victim's file), whatever order
    the manifest lists the directory and its file in, and mirrors the
    model again."""
    model_dir = arena / "model"
    env = preload_env(emu, bucket, model, model_dir, tmp_path / "cache")
    assert_model_served(read_model(env))
    for name in os.listdir(model_dir / "sub"):
        os.unlink(model_dir / "sub" / name)
    os.rmdir(model_dir / "sub")
    os.symlink(arena / "victim", model_dir / "sub")
    if file_first:
        manifest = model_dir / ".ossc-manifest"
        lines = manifest.read_text().splitlines()
        lines.remove("sub")
        manifest.write_text("\n".join(lines + ["sub"]) + "\n")
    res = read_model(env)
    assert victim_intact(arena)
    assert_model_served(res)
    assert not os.path.islink(model_dir / "sub")


# ------------------------------------------- defect 2: failed preparations


def test_failed_preparation_leaves_no_placeholder(emu, bucket, model, tmp_path):
    """A small file cannot be fetched: the preparation fails and removes
    what it made, so the application gets ENOENT, never a placeholder's
    zeros."""
    model_dir = tmp_path / "model"
    emu.faults.error(status=500, count=1000, bucket=bucket, key=model + "sub/tokenizer.json",
                     method="GET")
    env = preload_env(emu, bucket, model, model_dir, tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path, max_retries=1))
    proc = run([sys.executable, "-c", READ_MODEL, *MODEL], env)
    assert "cannot prepare MODEL_DIR" in proc.stderr, proc.stderr
    res = json.loads(proc.stdout)
    assert res == {rel: "ENOENT" for rel in MODEL}, res
    assert not model_dir.exists() or tree(model_dir) == {}

    # Once the server is well again, the next run mirrors the model.
    emu.faults.clear()
    assert_model_served(read_model(env))


def test_server_killed_during_preparation_serves_no_zeros(tmp_path):
    """The issue's repro: the server dies while MODEL_DIR is being prepared
    (a small file stalled at the server): the application gets ENOENT for
    the large file, not its placeholder's zeros."""
    model_dir = tmp_path / "model"
    with running_emulator() as emu:
        emu.create_bucket("dying")
        upload(emu, "dying", "m/", MODEL)
        emu.faults.delay(30.0, count=10, bucket="dying", key="m/sub/tokenizer.json",
                         method="GET")
        env = preload_env(emu, "dying", "m/", model_dir, tmp_path / "cache",
                          OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path, max_retries=1))
        proc = subprocess.Popen([sys.executable, "-c", READ_MODEL, *MODEL], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while not (model_dir / "sub").is_dir():
            assert proc.poll() is None and time.monotonic() < deadline, "preparation never began"
            time.sleep(0.05)
        os.kill(emu.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=120)
    assert "cannot prepare MODEL_DIR" in err, err
    assert json.loads(out) == {rel: "ENOENT" for rel in MODEL}
    assert not model_dir.exists() or tree(model_dir) == {}


def test_failed_preparation_keeps_what_a_previous_run_left(emu, bucket, model, tmp_path):
    """A failed re-run in a MODEL_DIR the connector had mirrored into: its
    own files go (the previous mirror was already replaced), the user's
    directory stays, and the manifest no longer names removed files."""
    model_dir = tmp_path / "model"
    env = preload_env(emu, bucket, model, model_dir, tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path, max_retries=1))
    assert_model_served(read_model(env))
    emu.faults.error(status=500, count=1000, bucket=bucket, key=model + "sub/tokenizer.json",
                     method="GET")
    res = read_model(env)
    assert res == {rel: "ENOENT" for rel in MODEL}, res
    assert model_dir.is_dir() and tree(model_dir) == {}


def test_sigkilled_preparation_is_cleaned_by_the_next_run(emu, bucket, model, tmp_path):
    """A preparation killed with SIGKILL half-way (a small file stalled at
    the server): the next run recognises what it left (the manifest is
    written before anything is created) and mirrors the model, instead of
    refusing the leftovers as files the connector did not create."""
    model_dir = tmp_path / "model"
    emu.faults.delay(60.0, count=1, bucket=bucket, key=model + "sub/tokenizer.json",
                     method="GET")
    cfg = tmp_path / "patient-config.json"
    cfg.write_text(json.dumps({"logPath": str(tmp_path / "connector.log"), "auditPath": "",
                               "http": {"maxRetries": 0, "lowSpeedTimeoutSec": 120}}))
    env = preload_env(emu, bucket, model, model_dir, tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=str(cfg))
    proc = subprocess.Popen(["/bin/true"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        # "sub" is made just before its file is fetched, and that fetch stalls.
        deadline = time.monotonic() + 120
        while not (model_dir / "sub").is_dir():
            assert proc.poll() is None and time.monotonic() < deadline, "preparation never began"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (model_dir / "sub" / "tokenizer.json").exists()  # killed half-way
    emu.faults.clear()

    env["OSS_CONNECTOR_CONFIG"] = fast_fail_config(tmp_path, max_retries=1)
    proc = run([sys.executable, "-c", READ_MODEL, *MODEL], env)
    assert "did not create" not in proc.stderr, proc.stderr
    assert_model_served(json.loads(proc.stdout))


# ------------------------- placeholders removed or replaced after preparation

# A large file in a subdirectory: the subdirectory is what a neighbour
# replaces by a link while the model is loaded.
NESTED = {"config.json": b'{"model_type": "toy"}',
          "sub/big.bin": bytes(range(256)) * (4 * SMALL // 256)}

HOLD_NESTED = """
import os, sys
f = open(os.path.join(os.environ['MODEL_DIR'], 'sub/big.bin'), 'rb')
assert len(f.read()) == {size}
print('ready', flush=True)
sys.stdin.readline()
f.close()
{end}
"""


@pytest.fixture
def nested(emu, bucket):
    upload(emu, bucket, "nested/", NESTED)
    return "nested/"


@pytest.fixture
def victim_dir(tmp_path):
    """root's private directory holding a file by the placeholder's name."""
    victim = tmp_path / "victim-nested"
    victim.mkdir(mode=0o700)
    (victim / "big.bin").write_bytes(b"root's big file")
    return victim


def swap_sub_for_link(model_dir, victim, aside):
    """Moves MODEL_DIR/sub (with its placeholder) aside and puts a link to
    the victim's directory in its place."""
    os.rename(model_dir / "sub", aside)
    os.symlink(victim, model_dir / "sub")


def wait_until(check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def cache_gone(cache):
    return not cache.exists() or all(not os.listdir(cache / d) for d in os.listdir(cache))


@pytest.mark.parametrize("end", ["sys.exit(0)", "os._exit(0)"])
def test_last_process_out_never_removes_through_a_planted_link(emu, bucket, nested, victim_dir,
                                                               tmp_path, end):
    """While the model is loaded, MODEL_DIR/sub is replaced by a link to a
    victim directory holding a file named like the placeholder.  The last
    process out (exit handlers) or the watcher (os._exit) removes the
    placeholders beneath MODEL_DIR's descriptor: never the victim's file."""
    model_dir, cache = tmp_path / "model", tmp_path / "cache"
    env = preload_env(emu, bucket, nested, model_dir, cache)
    code = HOLD_NESTED.format(size=len(NESTED["sub/big.bin"]), end=end)
    with reaped(subprocess.Popen([sys.executable, "-c", code], env=env, text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)) as proc:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        swap_sub_for_link(model_dir, victim_dir, tmp_path / "sub-aside")
        proc.communicate("\n", timeout=120)
    assert proc.returncode == 0
    wait_until(lambda: cache_gone(cache))
    assert (victim_dir / "big.bin").read_bytes() == b"root's big file"
    assert os.readlink(model_dir / "sub") == str(victim_dir)


def test_symlinks_mode_never_links_through_a_planted_link(emu, bucket, nested, victim_dir,
                                                          cred_file, config_file, tmp_path):
    """prepare_directory's default mode replaces each placeholder by a link
    to its cache file once it is fetched.  A link planted in MODEL_DIR
    meanwhile (the large file's GET is held back, so it lands first) makes
    prepare_directory fail with an error naming the file: the victim's file
    is neither replaced by a link nor removed."""
    from ossmodelconnector import OssModelConnector

    model_dir = tmp_path / "model"
    emu.faults.delay(10.0, count=100, bucket=bucket, key=nested + "sub/big.bin", method="GET")
    result = {}

    def prepare():
        with OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file) as c:
            try:
                c.prepare_directory(f"oss://{bucket}/{nested}", str(model_dir),
                                    small_file_size=SMALL, cache_dir=str(tmp_path / "cache"))
                result["ok"] = True
            except OSError as e:
                result["error"] = e

    thread = threading.Thread(target=prepare)
    thread.start()
    try:
        wait_until(lambda: (model_dir / "sub" / "big.bin").is_file() or not thread.is_alive())
        assert thread.is_alive(), result
        swap_sub_for_link(model_dir, victim_dir, tmp_path / "sub-aside")
    finally:
        thread.join(timeout=300)
    assert "error" in result, result
    assert "sub/big.bin" in str(result["error"]), result
    assert os.path.isfile(victim_dir / "big.bin") and not os.path.islink(victim_dir / "big.bin")
    assert (victim_dir / "big.bin").read_bytes() == b"root's big file"
    assert os.listdir(victim_dir) == ["big.bin"]


def test_failed_head_after_preparation_leaves_no_placeholder(emu, bucket, nested, tmp_path):
    """The mirror is made, then the cache cannot be built (the large file's
    HEAD fails): its placeholder goes too, so the application gets ENOENT,
    never zeros; the next run, with the server well, serves the model."""
    model_dir = tmp_path / "model"
    emu.faults.error(status=500, count=1000, bucket=bucket, key=nested + "sub/big.bin",
                     op="HeadObject")
    env = preload_env(emu, bucket, nested, model_dir, tmp_path / "cache",
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path, max_retries=1))
    proc = run([sys.executable, "-c", READ_MODEL, *NESTED], env)
    assert "HEAD oss://" in proc.stderr, proc.stderr
    res = json.loads(proc.stdout)
    assert res["sub/big.bin"] == "ENOENT", res
    assert res["config.json"] == {"len": len(NESTED["config.json"]), "zeros": False}, res
    assert not (model_dir / "sub" / "big.bin").exists()

    emu.faults.clear()
    res = json.loads(run([sys.executable, "-c", READ_MODEL, *NESTED], env).stdout)
    assert res["sub/big.bin"] == {"len": len(NESTED["sub/big.bin"]), "zeros": False}, res


# --------------------------------- files the connector made, changed since


def test_user_files_over_placeholders_and_edits_are_never_deleted(emu, bucket, model, tmp_path):
    """The manifest records what the connector wrote at each name (inode
    and modification time).  A user who copies the real weights over a
    placeholder while the application runs keeps them when the last
    process leaves; a user who edits a small file the connector wrote keeps
    the edit: the next run refuses, naming the file, and deletes nothing."""
    model_dir = tmp_path / "model"
    env = preload_env(emu, bucket, model, model_dir, tmp_path / "cache")
    mine = b"the user's own weights" * 100
    # Under the interposer, a write-open of a placeholder is the real file:
    # what a user's cp does beside a running application.
    run([sys.executable, "-c", f"""
import os
with open(os.path.join(os.environ['MODEL_DIR'], 'a-weights.bin'), 'wb') as f:
    f.write({mine!r})
"""], env)
    assert (model_dir / "a-weights.bin").read_bytes() == mine
    proc = run([sys.executable, "-c", READ_MODEL, *MODEL], env, check=False)
    assert "a-weights.bin" in proc.stderr and "changed or replaced" in proc.stderr, proc.stderr
    assert "nothing was deleted" in proc.stderr
    assert (model_dir / "a-weights.bin").read_bytes() == mine

    # An edit of a small file the connector wrote (the weights moved away).
    (model_dir / "a-weights.bin").unlink()
    assert_model_served(read_model(env))
    edited = b'{"model_type": "edited by hand"}'
    tmp = model_dir / "config.json.new"
    tmp.write_bytes(edited)
    tmp.rename(model_dir / "config.json")
    proc = run([sys.executable, "-c", READ_MODEL, *MODEL], env, check=False)
    assert "'config.json' was changed or replaced" in proc.stderr, proc.stderr
    assert (model_dir / "config.json").read_bytes() == edited
