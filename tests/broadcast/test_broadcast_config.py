"""Broadcasting set up by config.json alone (the ``broadcast`` object, no
OSSC_BROADCAST_* variable): two LD_PRELOAD nodes on 127.0.0.2 and 127.0.0.3
against the emulator and a real redis-server; the second receives the model
from the first.  ``ossc doctor`` and ``ossc broadcast status`` read the same
keys as the library.  A bad key turns broadcasting off with one warning
naming the file and the key, and the model still loads from OSS."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from ossconnector.preload import library_path
from tests_helpers import tmp_path_on_tmpfs  # noqa: F401 (tmp_path on /dev/shm: the cache)

PREFIX = "models/bc-config/"
MiB = 1 << 20
WAIT_S = 120.0  # a loaded 2-core machine: generous; every wait ends on an event

# Reads every file of MODEL_DIR, prints {name: sha256} and "loaded", then
# stays up (as a server would) until its stdin closes.
APP = r"""
import hashlib, json, os, sys
d = os.environ["MODEL_DIR"]
out = {}
for name in sorted(os.listdir(d)):
    if not name.startswith("."):
        with open(os.path.join(d, name), "rb") as f:
            out[name] = hashlib.sha256(f.read()).hexdigest()
print(json.dumps(out))
print("loaded", flush=True)
sys.stdin.read()
"""

BROADCAST_VARS = ("OSSC_BROADCAST_REDIS", "OSSC_BROADCAST_ADVERTISE", "OSSC_BROADCAST_LISTEN",
                  "OSSC_BROADCAST_SECRET_FILE", "OSSC_BROADCAST_SECRET",
                  "OSSC_BROADCAST_SOURCES", "OSSC_BROADCAST_STALL_SECONDS",
                  "OSSC_BROADCAST_CONNECT_TIMEOUT_MS")


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture
def model(emu, bucket):
    """Two large files (served from the node cache) and a small one."""
    files = {"model-00001-of-00002.safetensors": os.urandom(3 * MiB + 12345),
             "model-00002-of-00002.safetensors": os.urandom(2 * MiB),
             "config.json": b'{"model_type": "toy"}'}
    for name, data in files.items():
        emu.put_object(bucket, PREFIX + name, data)
    emu.reset_stats()
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "broadcast-secret"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, os.urandom(24).hex().encode() + b"\n")
    os.close(fd)
    return path


class Node:
    """One node: its own cache directory, MODEL_DIR, config file and log."""

    def __init__(self, tmp_path, name, broadcast: dict):
        self.dir = tmp_path / name
        self.dir.mkdir()
        self.log = self.dir / "connector.log"
        self.config = self.dir / "config.json"
        self.config.write_text(json.dumps({"logPath": str(self.log), "auditPath": "",
                                           "broadcast": broadcast}))
        self.proc = None
        self.hashes = None

    def env(self, emu, bucket):
        env = {k: v for k, v in os.environ.items() if k not in BROADCAST_VARS}
        env.update(LD_PRELOAD=library_path(), ENABLE_CONNECTOR="1",
                   OSS_ACCESS_KEY_ID=emu.access_key_id,
                   OSS_ACCESS_KEY_SECRET=emu.access_key_secret, OSS_ENDPOINT=emu.endpoint,
                   OSS_PATH=f"oss://{bucket}/{PREFIX}", MODEL_DIR=str(self.dir / "model"),
                   OSSC_CACHE_DIR=str(self.dir), OSSC_SMALL_FILE_SIZE="64K",
                   OSS_CONNECTOR_CONFIG=str(self.config))
        return env

    def start(self, emu, bucket):
        self.proc = subprocess.Popen([sys.executable, "-c", APP], env=self.env(emu, bucket),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        return self

    def wait_loaded(self):
        """The app's {name: sha256} once it has read every file."""
        lines = []

        def read_two():
            lines.extend([self.proc.stdout.readline(), self.proc.stdout.readline()])

        reader = threading.Thread(target=read_two, daemon=True)
        reader.start()
        reader.join(WAIT_S)  # a hang in the load fails the test instead of holding it
        first, second = (lines + ["", ""])[:2] if not reader.is_alive() else ("(no answer "
                                                                              "in time)", "")
        if second.strip() != "loaded":
            self.proc.kill()
            _, err = self.proc.communicate(timeout=60)
            raise AssertionError(f"node app failed: {first!r}\nstderr:\n{err[-3000:]}\n"
                                 f"log:\n{self.log_text()[-3000:]}")
        self.hashes = json.loads(first)
        return self.hashes

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=60)
        if self.proc:
            self.proc.stdout.close()
            self.proc.stderr.close()

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


@pytest.fixture
def nodes():
    made = []
    yield made
    for node in made:
        node.stop()


@pytest.fixture
def cli(capsys, monkeypatch):
    """cli(config, *argv) -> (code, out): ossc in-process, settings from config only."""
    from ossconnector.cli import main

    for var in BROADCAST_VARS + ("OSS_PATH",):
        monkeypatch.delenv(var, raising=False)

    def go(config, *argv):
        monkeypatch.setenv("OSS_CONNECTOR_CONFIG", str(config))
        capsys.readouterr()
        code = main(list(argv))
        return code, capsys.readouterr().out

    return go


def wait_for(predicate, what):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)  # polling the registry / a log file for the event
    raise AssertionError(f"timed out waiting for {what}")


def test_config_alone_enables_broadcasting(emu, bucket, model, secret_file, redis_factory,
                                           tmp_path, nodes, cli):
    redis = redis_factory(password="config-test-redis-pw")
    addrs = [f"127.0.0.{i}:{free_port(f'127.0.0.{i}')}" for i in (2, 3)]
    for i, addr in enumerate(addrs):
        # generous timeouts: a node's fetchers wait for its place in the chain at most
        # connectTimeoutMs + 1 s, and a loaded 2-core machine can take seconds to join
        nodes.append(Node(tmp_path, f"node{i + 1}", {"redis": redis.url, "advertise": addr,
                                                     "secretFile": str(secret_file),
                                                     "stallSeconds": 10,
                                                     "connectTimeoutMs": 10000}))
    first, second = nodes

    # doctor reads the registry and the address to bind from the config file
    _, out = cli(first.config, "doctor")  # its exit status also covers unrelated checks
    assert f"from broadcast.redis in {first.config}" in out, out
    assert f"broadcast.advertise={addrs[0]} can be bound here" in out, out
    assert (f"settings: advertise {addrs[0]}, listen {addrs[0]}, 1 source(s), secret from "
            "broadcast.secretFile") in out, out
    assert redis.password not in out

    first.start(emu, bucket)
    assert first.wait_loaded() == model
    second.start(emu, bucket)
    assert second.wait_loaded() == model

    log1, log2 = first.log_text(), second.log_text()
    assert f"broadcast: node {addrs[0]} pulls from OSS" in log1, log1
    assert f"broadcast: node {addrs[1]} receives from {addrs[0]}" in log2, log2
    assert "broadcasting off" not in log1 + log2
    assert "unknown keys" not in log1 + log2  # config.c leaves "broadcast" to the library

    # the status command finds the registry through the same file
    def complete_view():
        code, out = cli(second.config, "broadcast", "status", f"oss://{bucket}/{PREFIX}",
                        "--json")
        assert code == 0, out
        versions = json.loads(out)["versions"]
        by_addr = {n["addr"]: n for v in versions for n in v["nodes"]}
        done = len(by_addr) == 2 and all(n["complete"] for n in by_addr.values())
        return by_addr if done else None

    by_addr = wait_for(complete_view, "both nodes complete in the registry")
    why = f"{by_addr}\nnode 1:\n{first.log_text()}\nnode 2:\n{second.log_text()}"
    assert by_addr[addrs[0]]["upstream"] == "" and by_addr[addrs[0]]["source"] == "oss", why
    assert by_addr[addrs[1]]["upstream"] == addrs[0], why
    assert by_addr[addrs[1]]["recv_peer"] > 0, why
    assert by_addr[addrs[0]]["forwarded"] > 0, why


@pytest.mark.parametrize("broadcast, message", [
    ({"sources": "2"}, "key 'broadcast.sources' must be an integer between 1 and 64"),
    ({"advertise": "127.0.0.2"}, "key 'broadcast.advertise' ('127.0.0.2') must be host:port"),
    ({"secret": "a-secret-that-must-not-be-logged"},
     "key 'broadcast.secret': the secret is not read from the config file"),
])
def test_bad_key_turns_broadcasting_off(emu, bucket, model, secret_file, redis_server, tmp_path,
                                        nodes, cli, broadcast, message):
    settings = {"redis": redis_server.url, "advertise": f"127.0.0.2:{free_port('127.0.0.2')}",
                "secretFile": str(secret_file), **broadcast}
    node = Node(tmp_path, "node", settings)
    nodes.append(node)
    _, out = cli(node.config, "doctor")  # says it before any node starts
    assert f"FAIL  broadcast    config {node.config}: {message}" in out, out
    assert "a-secret-that-must-not-be-logged" not in out
    node.start(emu, bucket)
    assert node.wait_loaded() == model
    log = node.log_text()
    warnings = [line for line in log.splitlines() if "broadcasting off" in line]
    assert len(warnings) == 1, log
    assert f"config {node.config}: {message}" in warnings[0]
    assert "a-secret-that-must-not-be-logged" not in log
    assert "joined" not in log
    assert redis_server.cli("KEYS", "ossc:bc:*").strip() == ""
