"""Progress in the Python API (progress= on put, get, create) and in
ossc (per-file lines, 'completing upload'); the small-file upload path:
its rate (printed) and its memory (asserted)."""

import io
import os
import subprocess
import sys
import time

import pytest
from ossconnector.cli._progress import Progress

from tests_helpers import write_config


def _monotonic_to(calls, total):
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(set(done)) == len(done), done
    assert done[-1] == total and all(t == total for _, t in calls), calls


@pytest.mark.parametrize("size", [0, 1000, (3 << 20) + 123])  # empty, one PUT, multipart
def test_put_and_get_report_monotonic_progress_ending_at_the_total(client, bucket, size):
    data = os.urandom(size)
    uri = f"oss://{bucket}/p.bin"
    calls = []
    client.put(uri, data, progress=lambda done, total: calls.append((done, total)))
    _monotonic_to(calls, size)
    calls = []
    assert client.get(uri, progress=lambda done, total: calls.append((done, total))) == data
    _monotonic_to(calls, size)


def test_tqdm_like_objects_get_increments(client, bucket):
    class Bar:
        def __init__(self):
            self.n = 0
            self.steps = 0

        def update(self, n):
            self.n += n
            self.steps += 1

    data = os.urandom((2 << 20) + 5)
    uri = f"oss://{bucket}/t.bin"
    up, down = Bar(), Bar()
    client.put(uri, data, progress=up)
    assert client.get(uri, progress=down) == data
    assert up.n == down.n == len(data) and up.steps >= 2


def test_writer_progress_and_bad_progress(client, bucket):
    calls = []
    with client.create(f"oss://{bucket}/w.bin", size=300,
                       progress=lambda d, t: calls.append((d, t))) as w:
        for _ in range(3):
            w.write(b"x" * 100)
    assert calls == [(100, 300), (200, 300), (300, 300)]
    with pytest.raises(TypeError, match="progress must be"):
        client.put(f"oss://{bucket}/bad", b"x", progress=42)


def test_a_failing_callback_leaves_no_object(client, bucket):
    def stop(done, total):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        client.put(f"oss://{bucket}/half.bin", os.urandom(3 << 20), progress=stop)
    with pytest.raises(FileNotFoundError):
        client.stat(f"oss://{bucket}/half.bin")


def test_completing_upload_is_shown_while_the_commit_runs():
    s = io.StringIO()
    p = Progress(100, "cp", enabled=True, stream=s)
    p.advance(100)
    p.completing(+1)
    assert s.getvalue().splitlines()[-1].endswith("completing upload")
    p.completing(-1)
    p.close()
    assert "completing" not in s.getvalue().splitlines()[-1]


def test_cp_r_shows_a_line_per_file_and_the_aggregate(ossc, bucket, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"f{i}").write_bytes(b"z" * 4096)
    r = ossc("cp", "-r", "--progress", str(src), f"oss://{bucket}/d/")
    assert r.code == 0, r.err
    done = [line for line in r.err.splitlines() if line.startswith("done")]
    assert len(done) == 3 and all("4.0 KiB" in line for line in done)
    assert "3/3 files" in r.err.splitlines()[-1]


def test_small_file_rate_of_the_api_and_of_cp(client, ossc, bucket, tmp_path, capsys):
    """A measurement, printed: Client.put (one thread) and ossc cp -r of
    1,000 files of 4 KiB.  Not an assertion on speed (a loaded machine)."""
    blob = os.urandom(4096)
    t0 = time.monotonic()
    for i in range(1000):
        client.put(f"oss://{bucket}/api/{i:04d}", blob)
    api = 1000 / (time.monotonic() - t0)
    src = tmp_path / "small"
    src.mkdir()
    for i in range(1000):
        (src / f"{i:04d}").write_bytes(blob)
    t0 = time.monotonic()
    r = ossc("cp", "-r", "-j", "16", str(src), f"oss://{bucket}/cli/")
    cli = 1000 / (time.monotonic() - t0)
    assert r.code == 0, r.err
    assert len(list(client.list(f"oss://{bucket}/cli/"))) == 1000
    with capsys.disabled():
        print(f"\n[small files, 4 KiB] Client.put: {api:.0f} files/s; ossc cp -r -j 16: "
              f"{cli:.0f} files/s")


MEASURE_RSS = r"""
import resource, sys
from ossconnector.cli import main
conn, src, dst = sys.argv[1:-2], sys.argv[-2], sys.argv[-1]
assert main([*conn, "cp", src + "/0000", dst + "warm"]) == 0
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
assert main([*conn, "cp", "-r", src, dst]) == 0
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024)
"""


def test_small_file_memory_is_bounded_by_the_file_size(emu, cred_file, bucket, tmp_path):
    """200 files of 4 KiB with 8 MiB parts (the default): peak RSS grows by
    far less than a part-sized buffer per file (it used to be 32 MiB per
    transfer in flight)."""
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    config = write_config(cfg_dir, http={"partSize": 8 << 20})
    src = tmp_path / "small"
    src.mkdir()
    for i in range(200):
        (src / f"{i:04d}").write_bytes(os.urandom(4096))
    conn = ["--endpoint", emu.endpoint, "--cred-path", cred_file, "--config", config]
    r = subprocess.run([sys.executable, "-c", MEASURE_RSS, *conn, str(src),
                        f"oss://{bucket}/rss/"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    growth = int(r.stdout.split()[-1])
    assert growth < 64 << 20, f"peak RSS grew by {growth >> 20} MiB for 200 files of 4 KiB"
