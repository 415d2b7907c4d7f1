"""``ossc broadcast status`` and ``ossc doctor``'s broadcast lines against a
real redis-server: a version with three nodes written in the registry's
documented key schema (docs/broadcast.md, registry.h) with redis-cli."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nodes import free_port, have_ipv6_loopback  # noqa: E402

VID = "0123456789abcdef0123456789abcdef"
PATH = "oss://bkt/model/"
MiB = 1 << 20


@pytest.fixture
def run(capsys, monkeypatch, tmp_path):
    """run(*argv) -> (code, out, err): ossc in-process, no broadcast env."""
    from ossconnector.cli import main

    for var in ("OSSC_BROADCAST_REDIS", "OSSC_BROADCAST_ADVERTISE", "OSSC_BROADCAST_LISTEN",
                "OSSC_BROADCAST_SECRET_FILE", "OSSC_BROADCAST_SECRET", "OSS_PATH"):
        monkeypatch.delenv(var, raising=False)
    empty = tmp_path / "empty-config.json"
    empty.write_text("{}")
    monkeypatch.setenv("OSS_CONNECTOR_CONFIG", str(empty))

    def go(*argv):
        capsys.readouterr()
        code = main(list(argv))
        cap = capsys.readouterr()
        return code, cap.out, cap.err

    return go


def write_node(server, vid, seq, node_id, addr, upstream, *, recv_oss=0, recv_peer=0,
               forwarded=0, files_done=0, complete=0, ttl=600):
    """A node as bc_registry_join writes it."""
    key = f"ossc:bc:{vid}:node:{node_id}"
    server.cli("HSET", key, "id", node_id, "addr", addr, "hostname", f"host-{node_id}",
               "upstream", upstream, "pid", 100 + seq, "seq", seq, "total", 4 * MiB,
               "recv_oss", recv_oss, "recv_peer", recv_peer, "forwarded", forwarded,
               "files_done", files_done, "complete", complete)
    server.cli("EXPIRE", key, ttl)
    server.cli("ZADD", f"ossc:bc:{vid}:members", seq, node_id)


def write_version(server, vid=VID, path=PATH):
    server.cli("HSET", f"ossc:bc:{vid}:info", "oss_path", path, "nfiles", 3, "total", 4 * MiB)
    server.cli("SET", f"ossc:bc:{vid}:seq", 3)
    server.cli("SADD", "ossc:bc:path:" + path.rstrip("/"), vid)
    write_node(server, vid, 1, "node-a", "127.0.0.2:7070", "", recv_oss=4 * MiB,
               forwarded=4 * MiB, files_done=3, complete=1)
    write_node(server, vid, 2, "node-b", "127.0.0.3:7070", "127.0.0.2:7070",
               recv_peer=3 * MiB, forwarded=2 * MiB, files_done=2)
    write_node(server, vid, 3, "node-c", "127.0.0.4:7070", "127.0.0.3:7070",
               recv_peer=2 * MiB, recv_oss=MiB, files_done=1)


def table_rows(out):
    """{node id: the columns of its row}: split on runs of 2+ spaces."""
    rows = {}
    for line in out.splitlines():
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) == 9 and cols[0].isdigit():
            rows[cols[1]] = cols
    return rows


def test_status_table(redis_server, run):
    write_version(redis_server)
    code, out, err = run("broadcast", "status", PATH, "--redis", redis_server.url)
    assert code == 0, err
    assert f"version {VID}" in out
    assert "3 files, 4.0 MiB; 3 node(s)" in out
    assert f"registry 127.0.0.1:{redis_server.port} db 0" in out
    assert "OSS -> node-a -> node-b -> node-c" in out
    rows = table_rows(out)
    assert rows["node-a"] == ["1", "node-a", "127.0.0.2:7070", "OSS", "4.0 MiB", "0 B",
                              "4.0 MiB", "3/3", "yes"]
    assert rows["node-b"] == ["2", "node-b", "127.0.0.3:7070", "127.0.0.2:7070", "0 B",
                              "3.0 MiB", "2.0 MiB", "2/3", "no"]
    assert rows["node-c"] == ["3", "node-c", "127.0.0.4:7070", "127.0.0.3:7070", "1.0 MiB",
                              "2.0 MiB", "0 B", "1/3", "no"]
    # the same model without the trailing '/'
    code, out2, _ = run("broadcast", "status", PATH.rstrip("/"), "--redis", redis_server.url)
    assert code == 0 and "OSS -> node-a -> node-b -> node-c" in out2


def test_status_json(redis_server, run):
    write_version(redis_server)
    code, out, err = run("broadcast", "status", PATH, "--redis", redis_server.url, "--json")
    assert code == 0, err
    view = json.loads(out)
    assert view["oss_path"] == PATH
    [version] = view["versions"]
    assert version["vid"] == VID and version["nfiles"] == 3 and version["total"] == 4 * MiB
    assert version["oss_path"] == PATH
    nodes = version["nodes"]
    assert [n["id"] for n in nodes] == ["node-a", "node-b", "node-c"]
    assert [n["seq"] for n in nodes] == [1, 2, 3]
    assert [n["source"] for n in nodes] == ["oss", "peer", "peer"]
    assert nodes[1]["upstream"] == "127.0.0.2:7070"
    assert nodes[1]["recv_peer"] == 3 * MiB and nodes[1]["forwarded"] == 2 * MiB
    assert nodes[2]["recv_oss"] == MiB and nodes[2]["files_done"] == 1
    assert nodes[0]["complete"] is True and nodes[2]["complete"] is False
    assert nodes[0]["hostname"] == "host-node-a" and nodes[0]["pid"] == 101


def test_dead_node_dropped(redis_server, run):
    """A member whose hash expired is not shown, and leaves the members set."""
    write_version(redis_server)
    redis_server.cli("DEL", f"ossc:bc:{VID}:node:node-b")
    code, out, err = run("broadcast", "status", PATH, "--redis", redis_server.url)
    assert code == 0, err
    assert "node-b" not in out
    assert "OSS -> node-a" in out and "? 127.0.0.3:7070 -> node-c" in out
    assert redis_server.cli("ZSCORE", f"ossc:bc:{VID}:members", "node-b").strip() == ""


def test_no_nodes_and_db_selection(redis_server, run):
    write_version(redis_server)
    code, out, _ = run("broadcast", "status", "oss://bkt/other/", "--redis", redis_server.url)
    assert code == 0 and "no live broadcasting node" in out
    code, out, _ = run("broadcast", "status", PATH, "--redis", redis_server.url_for(5))
    assert code == 0 and "no live broadcasting node" in out and "db 5" in out


def test_redis_from_env_and_config(redis_server, run, monkeypatch, tmp_path):
    write_version(redis_server)
    code, _, err = run("broadcast", "status", PATH)
    assert code == 2
    assert "OSSC_BROADCAST_REDIS" in err and "broadcast.redis" in err
    monkeypatch.setenv("OSSC_BROADCAST_REDIS", redis_server.url)
    code, out, err = run("broadcast", "status", PATH)
    assert code == 0 and "OSS -> node-a -> node-b -> node-c" in out, err
    monkeypatch.delenv("OSSC_BROADCAST_REDIS")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"broadcast": {"redis": redis_server.url}}))
    code, out, err = run("broadcast", "status", PATH, "--config", str(cfg))
    assert code == 0 and "OSS -> node-a -> node-b -> node-c" in out, err


def test_status_errors(redis_factory, run):
    server = redis_factory(password="s3cret-Pw")
    url_wrong = f"redis://:not-the-Pw@127.0.0.1:{server.port}/0"
    code, out, err = run("broadcast", "status", PATH, "--redis", url_wrong)
    assert code == 1
    assert f"127.0.0.1:{server.port}" in err and "password" in err
    assert "not-the-Pw" not in err + out and "s3cret-Pw" not in err + out
    # closed port: a clear error at once, no hang
    server.stop()
    t0 = time.monotonic()
    code, out, err = run("broadcast", "status", PATH, "--redis", server.url)
    assert code == 1 and time.monotonic() - t0 < 15
    assert f"127.0.0.1:{server.port}" in err and "s3cret-Pw" not in err
    # a server that accepts but never answers: bounded by --timeout-ms
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        code, out, err = run("broadcast", "status", PATH, "--redis",
                             f"redis://127.0.0.1:{port}/1", "--timeout-ms", "300")
        took = time.monotonic() - t0
    assert code == 1 and 0.25 <= took < 15
    assert f"127.0.0.1:{port} db 1" in err and "no answer within 300 ms" in err
    # a URL the engine refuses names it, password masked
    code, _, err = run("broadcast", "status", PATH, "--redis", "rediss://:s3cret-Pw@h:1")
    assert code == 1 and "rediss://:***@h:1" in err and "s3cret-Pw" not in err
    code, _, err = run("broadcast", "status", "bkt/model", "--redis", server.url)
    assert code == 2 and "oss://" in err


# -- ossc doctor ----------------------------------------------------------------------

def doctor_lines(out):
    found = {}
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("ok", "warn", "FAIL", "skip"):
            found[parts[1]] = (parts[0], parts[2])
    return found


@pytest.fixture
def doctor(run, emu, cred_file, config_file, bucket):
    def go(*extra):
        return run("--endpoint", emu.endpoint, "--cred-path", cred_file, "--config",
                   config_file, "doctor", f"oss://{bucket}/", *extra)
    return go


def test_doctor_redis_up(redis_server, doctor, monkeypatch):
    code, out, _ = doctor()
    assert "broadcast" not in doctor_lines(out)  # not configured: no line
    monkeypatch.setenv("OSSC_BROADCAST_REDIS", redis_server.url_for(2))
    with socket.socket() as s:  # a port free to bind
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("OSSC_BROADCAST_ADVERTISE", f"127.0.0.1:{port}")
    monkeypatch.setenv("OSSC_BROADCAST_SECRET", "0123456789abcdef-doctor")
    code, out, _ = doctor()
    lines = doctor_lines(out)
    assert code == 0, out
    assert (f"ok    broadcast    settings: advertise 127.0.0.1:{port}, listen 127.0.0.1:{port}, "
            "1 source(s), secret from OSSC_BROADCAST_SECRET") in out
    assert "0123456789abcdef-doctor" not in out
    assert lines["broadcast"][0] == "ok"
    assert lines["broadcast"][1].startswith(f"redis: ok (127.0.0.1:{redis_server.port} db 2")
    assert lines["advertise"] == ("ok", f"$OSSC_BROADCAST_ADVERTISE=127.0.0.1:{port} "
                                        "can be bound here")


def test_doctor_redis_down_and_bad_advertise(redis_factory, doctor, monkeypatch):
    server = redis_factory(password="s3cret-Pw")
    server.stop()
    monkeypatch.setenv("OSSC_BROADCAST_REDIS", server.url)
    monkeypatch.setenv("OSSC_BROADCAST_ADVERTISE", "192.0.2.1:7070")  # TEST-NET: not ours
    t0 = time.monotonic()
    code, out, _ = doctor()
    assert time.monotonic() - t0 < 60
    lines = doctor_lines(out)
    assert code == 1
    assert lines["broadcast"][0] == "FAIL"
    assert f"127.0.0.1:{server.port}" in lines["broadcast"][1]
    assert "OSSC_BROADCAST_REDIS" in lines["broadcast"][1]
    assert "s3cret-Pw" not in out
    assert lines["advertise"][0] == "FAIL"
    assert "192.0.2.1 is not an address of this machine" in lines["advertise"][1]
    monkeypatch.setenv("OSSC_BROADCAST_ADVERTISE", "no-port-here")
    code, out, _ = doctor()
    assert doctor_lines(out)["advertise"][0] == "FAIL" and "not host:port" in out
    # the library would turn broadcasting off over it: doctor says so, naming the variable
    assert "FAIL  broadcast    OSSC_BROADCAST_ADVERTISE='no-port-here' must be host:port" in out


def test_doctor_ipv6(redis_factory, doctor, monkeypatch):
    """Redis at [::1] and an advertised [::1]:port: the settings, Redis and
    the bind check all take the bracketed form; an unbracketed IPv6
    address is refused as the library refuses it."""
    if not have_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    server = redis_factory(host="::1")
    monkeypatch.setenv("OSSC_BROADCAST_REDIS", server.url)
    port = free_port("::1")
    monkeypatch.setenv("OSSC_BROADCAST_ADVERTISE", f"[::1]:{port}")
    monkeypatch.setenv("OSSC_BROADCAST_SECRET", "0123456789abcdef-doctor")
    code, out, _ = doctor()
    lines = doctor_lines(out)
    assert code == 0, out
    assert f"settings: advertise [::1]:{port}, listen [::1]:{port}" in out
    assert lines["broadcast"][1].startswith(f"redis: ok ([::1]:{server.port} db 0")
    assert lines["advertise"] == ("ok", f"$OSSC_BROADCAST_ADVERTISE=[::1]:{port} "
                                        "can be bound here")
    monkeypatch.setenv("OSSC_BROADCAST_ADVERTISE", f"::1:{port}")
    code, out, _ = doctor()
    assert code == 1
    assert doctor_lines(out)["advertise"][0] == "FAIL" and "not host:port" in out
    assert (f"OSSC_BROADCAST_ADVERTISE='::1:{port}' must be host:port ([address]:port for "
            "IPv6)") in out
    # a zone id names an interface of one machine: refused by both
    monkeypatch.setenv("OSSC_BROADCAST_ADVERTISE", f"[fe80::1%lo]:{port}")
    code, out, _ = doctor()
    assert code == 1 and doctor_lines(out)["advertise"][0] == "FAIL", out


def test_redis_fixture_restart(redis_server):
    """What other broadcast tests rely on: stop() kills it, start() brings it
    back on the same port (URLs stay valid), empty (nothing persisted)."""
    redis_server.cli("SET", "k", "v")
    port, pid = redis_server.port, redis_server.pid
    redis_server.stop()
    assert not redis_server.ping()
    redis_server.start()
    assert redis_server.port == port and redis_server.pid != pid and redis_server.ping()
    assert redis_server.cli("GET", "k").strip() == ""


@pytest.mark.parametrize("url, fragments, where", [
    ("redis://:pA5s/w0Rd@host:6379/0", ["pA5s", "w0Rd"], "host:6379 db 0"),
    ("redis://user:pQ?wZ#xY@h:1/2", ["pQ", "wZ", "xY"], "h:1 db 2"),
    ("redis://:1234/sEkR@h/0", ["1234", "sEkR"], "h:6379 db 0"),
    ("redis://sEkR/Et@h", ["sEkR", "Et"], "h:6379 db 0"),
    ("redis://:a@bQ/cV@[::1]:7000/3", ["bQ", "cV"], "[::1]:7000 db 3"),
    (":sEkR/Et@h:6379", ["sEkR", "Et"], "(unparsable URL)"),
])
def test_redis_where_hides_raw_passwords(url, fragments, where):
    """A password written with a raw '/', '?', '#' or '@' (or in a URL with
    no scheme) never shows in what doctor prints for the URL: the userinfo
    runs to the last '@', as the engine masks it."""
    from ossconnector.cli._broadcast import redis_where

    shown = redis_where(url)
    assert shown == where
    for frag in fragments:
        assert frag not in shown


def test_render_long_chain_and_hostile_fields():
    """Whatever a Redis client wrote in the registry reaches the terminal
    with non-printable characters as '?', and a chain of thousands of nodes
    is drawn (no recursion limit)."""
    from ossconnector.cli.broadcast import chains, render

    nodes = [{"id": f"n{i}", "addr": f"10.0.{i // 250}.{i % 250}:7070", "seq": i,
              "upstream": "" if i == 0 else f"10.0.{(i - 1) // 250}.{(i - 1) % 250}:7070"}
             for i in range(3000)]
    lines = chains(nodes)
    assert len(lines) == 1 and lines[0].startswith("OSS -> n0 -> n1 ->")
    assert lines[0].endswith("-> n2999")
    evil = [{"id": "a\x1b[2J\nb", "addr": "x\x07:1", "upstream": "\x1b]0;pwn\x07", "seq": 1}]
    text = render({"oss_path": "oss://b/m/", "redis": "r", "versions": [
        {"vid": "v", "nfiles": 1, "total": 1, "nodes": evil}]})
    assert "\x1b" not in text and "\x07" not in text
    assert "a?[2J?b" in text and "? ?]0;pwn?" in text
