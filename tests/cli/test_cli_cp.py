"""ossc cp: every direction, recursive, parallel, stdin/stdout, failures."""

import os
import subprocess
import sys

import pytest
from tests_helpers import read_tree


@pytest.fixture
def local_tree(tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {"big.bin": os.urandom(3 * (1 << 20) + 7), "small.txt": b"hello\n",
             "sub/a.json": b"{}", "sub/deeper/b.bin": os.urandom(1000), "empty": b""}
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    return src, files


def test_upload_download_single_file(ossc, bucket, local_tree, tmp_path, oss2b):
    src, files = local_tree
    r = ossc("cp", str(src / "big.bin"), f"oss://{bucket}/one/")
    assert r.code == 0 and r.err == "", r.err  # no progress bar: stderr is not a terminal
    assert oss2b.get_object("one/big.bin").read() == files["big.bin"]
    assert ossc("cp", str(src / "small.txt"), f"oss://{bucket}/one/renamed.txt").code == 0
    assert oss2b.get_object("one/renamed.txt").read() == b"hello\n"

    out = tmp_path / "down"
    out.mkdir()
    assert ossc("cp", f"oss://{bucket}/one/big.bin", str(out)).code == 0        # into a dir
    assert (out / "big.bin").read_bytes() == files["big.bin"]
    assert ossc("cp", f"oss://{bucket}/one/renamed.txt", str(out / "x.txt")).code == 0
    assert (out / "x.txt").read_bytes() == b"hello\n"
    assert not [n for n in os.listdir(out) if "ossc-part" in n]


def test_empty_file_both_ways(ossc, bucket, local_tree, tmp_path):
    src, _ = local_tree
    assert ossc("cp", str(src / "empty"), f"oss://{bucket}/empty").code == 0
    assert ossc("cp", f"oss://{bucket}/empty", str(tmp_path / "e")).code == 0
    assert (tmp_path / "e").read_bytes() == b""


def test_recursive_round_trip_in_parallel(ossc, bucket, local_tree, tmp_path):
    src, files = local_tree
    r = ossc("cp", "-r", "-j", "3", str(src), f"oss://{bucket}/tree")
    assert r.code == 0, r.err
    listing = ossc("ls", "-r", f"oss://{bucket}/tree/").out.splitlines()
    assert sorted(listing) == sorted(f"oss://{bucket}/tree/{k}" for k in files)
    back = tmp_path / "back"
    r = ossc("cp", "-r", f"oss://{bucket}/tree", str(back))
    assert r.code == 0, r.err
    assert read_tree(back) == files


def test_oss_to_oss(ossc, bucket, local_tree, oss2b):
    src, files = local_tree
    assert ossc("cp", "-r", str(src), f"oss://{bucket}/a/").code == 0
    assert ossc("cp", f"oss://{bucket}/a/big.bin", f"oss://{bucket}/b/").code == 0
    assert oss2b.get_object("b/big.bin").read() == files["big.bin"]
    assert ossc("cp", "-r", f"oss://{bucket}/a/sub/", f"oss://{bucket}/c").code == 0
    keys = sorted(o.key for o in __import__("oss2").ObjectIterator(oss2b, prefix="c/"))
    assert keys == ["c/a.json", "c/deeper/b.bin"]


def test_oss_to_oss_streams_objects_over_the_copy_limit(ossc, bucket, emu, oss2b,
                                                        monkeypatch):
    from ossconnector.cli import _transfer

    monkeypatch.setattr(_transfer, "SERVER_COPY_LIMIT", 1000)
    data = os.urandom(2 * (1 << 20) + 5)
    emu.put_object(bucket, "big", data)
    assert ossc("cp", f"oss://{bucket}/big", f"oss://{bucket}/big2").code == 0
    assert oss2b.get_object("big2").read() == data


def test_stdin_and_stdout(conn, bucket, oss2b):
    """- as SRC reads stdin, - as DST writes the object to stdout (nothing
    else on stdout)."""
    data = os.urandom(3 * (1 << 20) + 11)
    cmd = [sys.executable, "-m", "ossconnector.cli", *conn]
    up = subprocess.run([*cmd, "cp", "-", f"oss://{bucket}/from-stdin"], input=data,
                        capture_output=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert oss2b.get_object("from-stdin").read() == data
    down = subprocess.run([*cmd, "cp", f"oss://{bucket}/from-stdin", "-"],
                          capture_output=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert down.stdout == data


def test_usage_errors(ossc, bucket, local_tree, tmp_path, emu):
    src, _ = local_tree
    r = ossc("cp", str(src), f"oss://{bucket}/x/")
    assert r.code == 2 and "is a directory: use -r" in r.err
    r = ossc("cp", str(src / "small.txt"), str(tmp_path / "x"))
    assert r.code == 2 and "must be an oss:// URI" in r.err
    emu.put_object(bucket, "dir/f", b"1")
    r = ossc("cp", f"oss://{bucket}/dir", str(tmp_path))
    assert r.code == 2 and "is a prefix" in r.err and "-r" in r.err
    r = ossc("cp", "-r", "-", f"oss://{bucket}/x")
    assert r.code == 2


def test_failures_exit_1(ossc, bucket, local_tree, tmp_path, emu):
    src, files = local_tree
    r = ossc("cp", str(tmp_path / "nope"), f"oss://{bucket}/x")
    assert r.code == 1 and "no such file" in r.err
    r = ossc("cp", f"oss://{bucket}/nope", str(tmp_path / "y"))
    assert r.code == 1 and "no such object" in r.err
    assert not (tmp_path / "y").exists()
    r = ossc("cp", "-r", f"oss://{bucket}/nothing/", str(tmp_path / "z"))
    assert r.code == 1 and "no objects under" in r.err


def test_partial_failure_reports_each_and_exits_1(ossc, bucket, local_tree, tmp_path, emu):
    src, files = local_tree
    assert ossc("cp", "-r", str(src), f"oss://{bucket}/p").code == 0
    emu.faults.error(status=403, code="AccessDenied", count=1, bucket=bucket,
                     key="p/small.txt", method="GET")
    out = tmp_path / "out"
    r = ossc("cp", "-r", f"oss://{bucket}/p/", str(out))
    assert r.code == 1
    assert "p/small.txt" in r.err and "AccessDenied" in r.err
    assert "1 of 5 transfers failed" in r.err
    got = read_tree(out)
    assert "small.txt" not in got and got["big.bin"] == files["big.bin"] and len(got) == 4
    assert not [n for n in os.listdir(out) if "ossc-part" in n]


def test_failed_upload_leaves_no_object(ossc, bucket, local_tree, emu, oss2b):
    src, _ = local_tree
    emu.faults.error(status=403, code="AccessDenied", count=20, bucket=bucket, key="u/big.bin")
    r = ossc("cp", str(src / "big.bin"), f"oss://{bucket}/u/big.bin")
    assert r.code == 1 and "AccessDenied" in r.err
    emu.faults.clear()
    assert not oss2b.object_exists("u/big.bin")


def test_unsafe_keys_are_not_written_outside_the_directory(ossc, bucket, emu, tmp_path):
    emu.put_object(bucket, "evil/../../escape.txt", b"x")
    emu.put_object(bucket, "evil/ok.txt", b"ok")
    out = tmp_path / "deep" / "out"
    r = ossc("cp", "-r", f"oss://{bucket}/evil/", str(out))
    assert r.code == 1 and "cannot be a local path" in r.err
    assert (out / "ok.txt").read_bytes() == b"ok"
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "deep" / "escape.txt").exists()


def _start_slow_download(conn, bucket, emu, out, key, size):
    """Puts a random object of size bytes under key, has the server hold
    every GET of it 3 s, and starts ``cp`` of it into the directory out;
    returns the process once its temporary file exists.  From then on the
    download is at least 3 s from its end, so a signal sent now lands
    mid-transfer even when this process is descheduled for a while."""
    emu.put_object(bucket, key, os.urandom(size))
    emu.faults.delay(3.0, count=1000, bucket=bucket, key=key, method="GET")
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "ossconnector.cli", *conn, "cp",
                             f"oss://{bucket}/{key}", str(out / key)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_part_file(out, proc)
    return proc


def _ctrl_c(proc, emu):
    """Sends SIGINT to proc and waits for it (the server's delays are
    cleared after); returns its exit status and stderr."""
    import signal

    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    emu.faults.clear()
    return proc.returncode, err


def test_ctrl_c_stops_cleanly_with_status_130(conn, bucket, emu, tmp_path):
    """SIGINT during a download: exit status 130, no partial or temporary
    file left behind."""
    out = tmp_path / "out"
    proc = _start_slow_download(conn, bucket, emu, out, "slow.bin", 8 << 20)
    status, err = _ctrl_c(proc, emu)
    assert status == 130, err
    assert "interrupted" in err
    assert os.listdir(out) == [], err


def _wait_for_part_file(directory, proc=None):
    """Returns once a download's temporary file exists in ``directory``."""
    import time

    deadline = time.monotonic() + 120
    while not any("ossc-part" in n for n in os.listdir(directory)):
        if proc is not None:
            assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, os.listdir(directory)
        time.sleep(0.02)  # polling interval of the wait, not a stand-in for it


def test_ctrl_c_during_the_last_step_renames_nothing(conn, bucket, emu, tmp_path):
    """An object fetched in one step: Ctrl-C arrives while that step (the
    last) is in flight.  The step completes, but the download was
    cancelled: the finished file must not be renamed into place."""
    out = tmp_path / "out"
    proc = _start_slow_download(conn, bucket, emu, out, "one-step.bin", 1 << 20)
    status, err = _ctrl_c(proc, emu)
    assert status == 130, err
    assert os.listdir(out) == [], err


SIGINT_WHILE_SUBMITTING = """
import os
import signal
import sys
import time
from ossconnector.cli import cp, main

out = sys.argv[-1]
real_run_tasks = cp.run_tasks


def signalling(tasks):
    # Ctrl-C arriving while run_tasks is still handing out transfers, one
    # of which is already writing its temporary file.
    yield tasks[0]
    deadline = time.monotonic() + 120
    while not any("ossc-part" in n for n in os.listdir(out)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    signal.raise_signal(signal.SIGINT)
    yield from tasks[1:]


cp.run_tasks = lambda tasks, *a, **k: real_run_tasks(signalling(tasks), *a, **k)
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_while_transfers_are_handed_out(conn, bucket, emu, tmp_path):
    for name in ("a.bin", "b.bin", "c.bin"):
        emu.put_object(bucket, f"many/{name}", os.urandom(1 << 20))
    emu.faults.delay(3.0, count=1000, bucket=bucket, key_prefix="many/", method="GET")
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run([sys.executable, "-c", SIGINT_WHILE_SUBMITTING, *conn, "cp", "-r",
                        f"oss://{bucket}/many/", str(out)],
                       capture_output=True, text=True, timeout=120)
    emu.faults.clear()
    assert r.returncode == 130, r.stderr[-3000:]
    assert "interrupted" in r.stderr
    assert os.listdir(out) == [], r.stderr[-3000:]
