"""The progress bar: rate and ETA, drawn on stderr only when asked or on a
terminal; and (slow) a multi-GiB copy with it."""

import io
import os
import re

import pytest
from ossconnector.cli._progress import Progress, human_bytes, human_duration


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_units():
    assert human_bytes(0) == "0 B" and human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.5 KiB" and human_bytes(3 << 30) == "3.0 GiB"
    assert human_duration(75) == "1:15" and human_duration(3725) == "1:02:05"


def test_line_has_percentage_rate_and_eta(monkeypatch):
    import ossconnector.cli._progress as mod

    now = [1000.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    p = Progress(4 << 30, "cp", total_files=3, enabled=True, stream=io.StringIO())
    now[0] += 2.0
    p.advance(1 << 30)          # 1 GiB in 2 s: 512 MiB/s, 3 GiB left: 6 s
    line = p.line()
    assert "25.0%" in line and "1.0 GiB/4.0 GiB" in line and "0/3 files" in line
    assert "512.0 MiB/s" in line and "ETA 0:06" in line
    assert "in 0:02" in p.line(final=True)


def test_quiet_when_not_a_terminal_unless_forced():
    s = io.StringIO()
    with Progress(100, "cp", stream=s) as p:
        p.advance(100)
    assert s.getvalue() == ""
    s = io.StringIO()
    with Progress(100, "cp", stream=s, enabled=True) as p:
        p.advance(100)
    assert s.getvalue().rstrip("\n").endswith("in 0:00") and "100.0%" in s.getvalue()


def test_terminal_redraws_in_place():
    tty = FakeTTY()
    with Progress(10, "x", stream=tty, interval=0) as p:
        for _ in range(10):
            p.advance(1)
    text = tty.getvalue()
    assert text.startswith("\r") and text.count("\r") >= 2 and text.endswith("\n")
    with Progress(10, "x", stream=tty, enabled=False) as p:
        p.advance(10)
    assert tty.getvalue() == text


def test_cli_forced_progress_shows_rate_and_eta(ossc, bucket, emu, tmp_path):
    """A download slowed down by the emulator: with --progress (stderr is
    not a terminal here) intermediate lines carry percentage, rate and ETA,
    the last one the total time."""
    data = os.urandom(8 << 20)                       # 8 parts of 1 MiB (test config)
    emu.put_object(bucket, "slow.bin", data)
    emu.faults.delay(0.6, count=8, bucket=bucket, key="slow.bin", method="GET")
    r = ossc("cp", "--progress", f"oss://{bucket}/slow.bin", str(tmp_path / "slow.bin"))
    assert r.code == 0, r.err
    assert (tmp_path / "slow.bin").read_bytes() == data
    lines = r.err.strip().splitlines()
    assert len(lines) >= 2, r.err
    assert re.search(r"\d+\.\d%.*/s  ETA \d+:\d\d", lines[0]), lines
    assert "100.0%" in lines[-1] and "8.0 MiB/8.0 MiB" in lines[-1]
    assert re.search(r"/s  in \d+:\d\d$", lines[-1])
    r = ossc("cp", f"oss://{bucket}/slow.bin", str(tmp_path / "again.bin"))
    assert r.code == 0 and r.err == ""              # not a terminal: no bar by default


@pytest.mark.skipif(os.environ.get("OSSC_SLOW_TESTS") != "1",
                    reason="slow (3 GiB through the emulator): set OSSC_SLOW_TESTS=1")
def test_multi_gib_copy_with_progress(conn, bucket, emu, tmp_path):
    import subprocess
    import sys

    size = 3 << 30
    emu.create_sparse_object(bucket, "huge.bin", size)
    with open(os.devnull, "wb") as sink:
        proc = subprocess.run([sys.executable, "-m", "ossconnector.cli", *conn, "cp",
                               "--progress", f"oss://{bucket}/huge.bin", "-"], stdout=sink,
                              stderr=subprocess.PIPE, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert any("ETA" in line for line in lines)
    assert "3.0 GiB/3.0 GiB" in lines[-1]
