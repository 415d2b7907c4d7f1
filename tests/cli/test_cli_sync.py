"""``ossc sync``: copies only what differs (size, then CRC-64), --delete,
--dry-run, both directions; bad input; Ctrl-C in the middle leaves nothing
half-written."""

import os
import signal
import subprocess
import sys
import time

from tests_helpers import reaped


def _tree(root, files):
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _objects(client, prefix):
    strip = len(prefix) - len("oss://") - prefix[len("oss://"):].index("/") - 1
    return {e.key[strip:]: client.get(e.uri) for e in client.list(prefix)}


def test_sync_up_copies_only_what_differs(ossc, client, bucket, tmp_path):
    src = tmp_path / "src"
    _tree(src, {"a.bin": b"a" * 1000, "sub/b.bin": b"b" * 3000, "c.bin": b"c"})
    dst = f"oss://{bucket}/m/"
    r = ossc("sync", str(src), dst)
    assert r.code == 0, r.err
    assert "3 copied, 0 unchanged, 0 deleted" in r.err
    assert _objects(client, dst) == {"a.bin": b"a" * 1000, "sub/b.bin": b"b" * 3000, "c.bin": b"c"}

    r = ossc("sync", str(src), dst)
    assert "0 copied, 3 unchanged" in r.err

    (src / "a.bin").write_bytes(b"A" * 1000)        # same size, other bytes: CRC-64 differs
    (src / "c.bin").write_bytes(b"cc")              # other size
    client.put(dst + "extra.bin", b"x")
    r = ossc("sync", "--dry-run", "--delete", str(src), dst)
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == [
        f"would delete {dst}extra.bin",
        f"would upload {src / 'a.bin'} -> {dst}a.bin (content differs)",
        f"would upload {src / 'c.bin'} -> {dst}c.bin (size differs)"]
    assert _objects(client, dst)["a.bin"] == b"a" * 1000   # the dry run changed nothing

    r = ossc("sync", str(src), dst)
    assert "2 copied, 1 unchanged, 0 deleted" in r.err
    assert "extra.bin" in _objects(client, dst)             # no --delete: kept
    r = ossc("sync", "--delete", str(src), dst)
    assert "0 copied, 3 unchanged, 1 deleted" in r.err
    assert _objects(client, dst) == {"a.bin": b"A" * 1000, "sub/b.bin": b"b" * 3000,
                                     "c.bin": b"cc"}


def test_sync_down_copies_only_what_differs(ossc, client, bucket, tmp_path):
    src = f"oss://{bucket}/m/"
    big = os.urandom(3 << 20)                              # multipart-sized (parts of 1 MiB)
    client.put(src + "big.bin", big)
    client.put(src + "d/small.txt", b"hello")
    out = tmp_path / "out"
    r = ossc("sync", src, str(out))
    assert r.code == 0, r.err
    assert (out / "big.bin").read_bytes() == big and (out / "d/small.txt").read_bytes() == b"hello"
    assert "2 copied" in r.err

    (out / "d/small.txt").write_bytes(b"HELLO")
    (out / "local-only.txt").write_bytes(b"mine")
    r = ossc("sync", src, str(out))
    assert "1 copied, 1 unchanged, 0 deleted" in r.err
    assert (out / "d/small.txt").read_bytes() == b"hello"
    assert (out / "local-only.txt").exists()
    r = ossc("sync", "--delete", src, str(out))
    assert "0 copied, 2 unchanged, 1 deleted" in r.err
    assert sorted(os.listdir(out)) == ["big.bin", "d"]


def test_sync_bad_input(ossc, bucket, tmp_path):
    r = ossc("sync", str(tmp_path / "nope"), f"oss://{bucket}/p/")
    assert r.code == 2 and "no such directory" in r.err
    r = ossc("sync", str(tmp_path), str(tmp_path))
    assert r.code == 2 and "oss://" in r.err
    missing = bucket + "-missing"
    r = ossc("sync", f"oss://{missing}/p/", str(tmp_path / "out"))
    assert r.code == 1 and missing in r.err and "bucket does not exist" in r.err
    assert not (tmp_path / "out").exists()
    (tmp_path / "f").write_bytes(b"x")
    r = ossc("sync", str(tmp_path), f"oss://{missing}/p/")
    assert r.code == 1 and missing in r.err


def test_ctrl_c_in_the_middle_of_sync_leaves_nothing_half_written(conn, client, emu, bucket,
                                                                  tmp_path):
    """Six objects; every GET of the last five is held 3 s by the server.
    SIGINT goes out once the progress says the first file is done: exit
    130, no temporary file, and every file under its final name whole."""
    src = f"oss://{bucket}/m/"
    data = {f"f{i}.bin": os.urandom(2 << 20) for i in range(6)}
    for name, blob in data.items():
        client.put(src + name, blob)
        if name != "f0.bin":
            emu.faults.delay(3.0, count=1000, bucket=bucket, key="m/" + name, method="GET")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ossconnector.cli", *conn, "sync", "--progress", "-j", "1",
           src, str(out)]
    with reaped(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)) as proc:
        seen = []
        deadline = time.monotonic() + 120
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("done") and "f0.bin" in line:
                break
            assert time.monotonic() < deadline, seen
        else:
            raise AssertionError(f"no progress line for f0.bin: {seen}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    emu.faults.clear()
    assert proc.returncode == 130, "".join(seen) + err
    assert "interrupted" in err
    names = sorted(os.listdir(out))
    assert not [n for n in names if "ossc-part" in n], names
    assert "f0.bin" in names and len(names) < 6, names
    for name in names:
        assert (out / name).read_bytes() == data[name], name
