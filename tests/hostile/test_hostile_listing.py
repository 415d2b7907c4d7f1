"""Hostile list replies (defect 3 of issue 14): a server whose pages never
end — truncated without a token, a token handed out twice, the same page
again under fresh tokens, a cycle of tokens on empty pages — or whose
pages are longer than asked or carry sizes that are no byte count.  Every
listing ends promptly with an error that names the bucket, the prefix and
the token, in Python (sequential and fast listing) and under LD_PRELOAD
(the constructor returns instead of listing forever).

The server is ``list_server.py``, a real HTTP server process; each listing
runs in a child process with a deadline, so a regression fails the test
instead of hanging it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests_helpers import write_config

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE = 120  # seconds: generous for a loaded machine; a loop never meets it


@pytest.fixture
def list_server():
    """Starts list_server.py in a mode; returns its endpoint.  Stopped
    (by its PID) at teardown."""
    procs = []

    def start(mode):
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "list_server.py"), mode],
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        line = proc.stdout.readline()  # the server's first act; EOF if it died
        assert line.startswith("listening "), f"list server did not start: {line!r}"
        return f"http://127.0.0.1:{int(line.split()[1])}"

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=DEADLINE)


LIST_CODE = """
import json, sys
from ossconnector import Client
endpoint, uri, fast, config = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
client = Client(endpoint, config_path=config)
n = 0
try:
    for entry in client.list(uri, fast=fast):
        n += 1
        if n > 100000:
            print(json.dumps({"endless": n}))
            sys.exit(0)
    print(json.dumps({"count": n}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e), "count": n}))
"""


def list_in_child(endpoint, uri, tmp_path, fast=False):
    env = dict(os.environ, OSS_ACCESS_KEY_ID="hostile-ak", OSS_ACCESS_KEY_SECRET="hostile-sk")
    config = write_config(tmp_path, http={"maxRetries": 1})
    proc = subprocess.run([sys.executable, "-c", LIST_CODE, endpoint, uri, "1" if fast else "0",
                           config], env=env, capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


ENDLESS = {
    "no-token": "without a continuation token",
    "empty-token": "without a continuation token",
    "same-token": "repeats a continuation token already used: 'T1'",
    "fresh-token": "went backwards",
    "token-cycle": "repeats a continuation token already used: 'T0'",
}


@pytest.mark.parametrize("mode", sorted(ENDLESS))
def test_endless_listing_ends_with_an_error(list_server, tmp_path, mode):
    endpoint = list_server(mode)
    res = list_in_child(endpoint, "oss://hostile-bucket/some/prefix/", tmp_path)
    assert "error" in res, res
    message = res["message"]
    assert ENDLESS[mode] in message, message
    assert "oss://hostile-bucket/some/prefix/" in message, message
    if mode not in ("no-token", "empty-token"):
        assert "page after token 'T" in message, message
    # no entry twice: at most the first page's two keys came through
    assert res["count"] <= 2 * (mode != "token-cycle"), res


@pytest.mark.parametrize("mode", ["no-token", "fresh-token", "same-token"])
def test_endless_fast_listing_ends_with_an_error(list_server, tmp_path, mode):
    """Fast list pages with start-after: a server that ignores it (the same
    page again) is caught; a page without a token is fine there."""
    endpoint = list_server(mode)
    res = list_in_child(endpoint, "oss://hostile-bucket/p/", tmp_path, fast=True)
    assert "error" in res, res
    assert "went backwards" in res["message"], res
    # Fast list reads partitions in parallel: whichever notices first names its
    # own start-after ('p/...' for the first, e.g. 'p0' for a later one).
    assert re.search(r"\(page after start-after 'p[^']*'\)", res["message"]), res
    assert "oss://hostile-bucket/p/" in res["message"], res


def test_page_longer_than_max_keys_is_refused(list_server, tmp_path):
    endpoint = list_server("too-many")
    for fast in (False, True):
        res = list_in_child(endpoint, "oss://hostile-bucket/p/", tmp_path, fast=fast)
        assert "error" in res, res
        assert "page of 1500 entries, more than the 1000 asked for" in res["message"], res


@pytest.mark.parametrize("size", ["-5", "99999999999999999999999", "9223372036854775808"])
def test_size_that_is_no_byte_count_names_the_key(list_server, tmp_path, size):
    endpoint = list_server(f"size={size}")
    res = list_in_child(endpoint, "oss://hostile-bucket/m/", tmp_path)
    assert "error" in res, res
    assert "key 'm/weights.bin' has <Size> '%s'" % size in res["message"], res


def preloaded_echo(endpoint, tmp_path):
    """`echo ran-to-the-end` under LD_PRELOAD with OSS_PATH on the hostile
    list server at endpoint (the constructor lists it); the finished
    process (logs in tmp_path/connector.log)."""
    from ossconnector.preload import library_path

    env = dict(os.environ, LD_PRELOAD=library_path(), ENABLE_CONNECTOR="1",
               OSS_ACCESS_KEY_ID="hostile-ak", OSS_ACCESS_KEY_SECRET="hostile-sk",
               OSS_ENDPOINT=endpoint, OSS_PATH="oss://hostile-bucket/model/",
               MODEL_DIR=str(tmp_path / "model"), OSSC_CACHE_DIR=str(tmp_path / "cache"),
               OSS_CONNECTOR_CONFIG=write_config(tmp_path, http={"maxRetries": 1}))
    return subprocess.run(["sh", "-c", "echo ran-to-the-end"], env=env, capture_output=True,
                          text=True, timeout=DEADLINE)


def test_preloaded_process_does_not_list_forever(list_server, tmp_path):
    """Under LD_PRELOAD the constructor lists OSS_PATH: with a server that
    repeats its token the program still runs to its end, with the error on
    stderr, instead of never returning."""
    proc = preloaded_echo(list_server("same-token"), tmp_path)
    assert proc.stdout.strip() == "ran-to-the-end"
    assert "repeats a continuation token already used: 'T1'" in proc.stderr, proc.stderr
    assert "oss://hostile-bucket/model/" in proc.stderr, proc.stderr


def test_listed_keys_outside_the_prefix_or_too_long_are_skipped(list_server, tmp_path):
    """A listing is the server's word: keys that are not under the prefix
    asked for (one shorter than it, whose relative path would be read past
    its end), or longer than an OSS key can be (the node cache would cut it
    to another object's name), are skipped with a warning; nothing is
    created for them in MODEL_DIR, and the program runs."""
    proc = preloaded_echo(list_server("stray-keys"), tmp_path)
    assert proc.stdout.strip() == "ran-to-the-end"
    log = (tmp_path / "connector.log").read_text()
    assert "skipping a listed key of 1 bytes: not under the prefix listed" in log, log
    assert "skipping a listed key of 23 bytes: not under the prefix listed" in log, log
    assert "skipping a listed key of 1106 bytes: longer than an OSS key can be" in log, log
    model = tmp_path / "model"
    assert not model.exists() or sorted(os.listdir(model)) in ([], [".ossc-manifest"]), \
        os.listdir(model)

