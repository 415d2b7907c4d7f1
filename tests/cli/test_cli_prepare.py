"""ossc prepare / prefetch: a local copy of a model directory, refreshed
incrementally; --serve keeps a shared-memory directory until SIGTERM."""

import os
import signal
import subprocess
import sys
import time

import pytest
from tests_helpers import read_tree, reaped


@pytest.fixture
def model(emu, bucket):
    files = {"config.json": b'{"model_type": "toy"}', "tokenizer.json": b"{}" * 100,
             "model-00001-of-00002.safetensors": os.urandom(5 << 20),
             "model-00002-of-00002.safetensors": os.urandom(2 << 20),
             "extra/README.md": b"hi"}
    for rel, data in files.items():
        emu.put_object(bucket, "models/toy/" + rel, data)
    return files


def test_prepare_mirrors_then_skips_what_is_up_to_date(ossc, bucket, model, tmp_path, emu):
    d = tmp_path / "model"
    r = ossc("prepare", f"oss://{bucket}/models/toy", str(d))
    assert r.code == 0, r.err
    assert read_tree(d) == model
    assert "5 files" in r.out and "(5 downloaded, 0 already up to date)" in r.out
    mtime = os.stat(d / "config.json").st_mtime
    assert abs(mtime - time.time()) < 3600  # the object's mtime, not the epoch

    r = ossc("prefetch", f"oss://{bucket}/models/toy/", str(d))  # the alias
    assert r.code == 0 and "(0 downloaded, 5 already up to date)" in r.out

    emu.put_object(bucket, "models/toy/config.json", b'{"model_type": "changed!!"}')
    r = ossc("prepare", f"oss://{bucket}/models/toy/", str(d))
    assert "(1 downloaded, 4 already up to date)" in r.out
    assert (d / "config.json").read_bytes() == b'{"model_type": "changed!!"}'

    r = ossc("prepare", "--force", f"oss://{bucket}/models/toy/", str(d))
    assert "(5 downloaded, 0 already up to date)" in r.out


def test_prepare_never_deletes_local_files(ossc, bucket, model, tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "mine.txt").write_text("keep me")
    assert ossc("prepare", f"oss://{bucket}/models/toy/", str(d)).code == 0
    assert (d / "mine.txt").read_text() == "keep me"


def test_prepare_errors(ossc, bucket, model, tmp_path):
    r = ossc("prepare", f"oss://{bucket}/models/none/", str(tmp_path / "x"))
    assert r.code == 1 and "no objects under" in r.err
    f = tmp_path / "file"
    f.write_text("")
    r = ossc("prepare", f"oss://{bucket}/models/toy/", str(f))
    assert r.code == 2 and "not a directory" in r.err
    r = ossc("prepare", "models/toy", str(tmp_path / "y"))
    assert r.code == 2


def test_prepare_serve_holds_a_shared_memory_directory(conn, bucket, model, tmp_path):
    d = tmp_path / "served"
    env = dict(os.environ, OSSC_CACHE_DIR=str(tmp_path / "cache"), OSSC_SMALL_FILE_SIZE="1M")
    with reaped(subprocess.Popen([sys.executable, "-m", "ossconnector.cli", *conn, "prepare",
                                  "--serve", f"oss://{bucket}/models/toy/", str(d)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)) as proc:
        line = proc.stdout.readline()
        assert line.startswith(f"serving {d}"), (line, proc.stderr.read() if proc.poll() else "")
        # Another process reads the directory while ossc holds it.
        for rel, data in model.items():
            with open(d / rel, "rb") as f:
                assert f.read() == data, rel
        assert os.path.islink(d / "model-00001-of-00002.safetensors")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    # Released: the weights' links are gone, small files stay.
    assert not os.path.lexists(d / "model-00001-of-00002.safetensors")
    assert (d / "config.json").read_bytes() == model["config.json"]
