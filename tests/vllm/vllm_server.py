"""A real ``vllm serve`` process for the tests: started, waited for through
its /health endpoint, queried through the OpenAI completions API, stopped
with SIGTERM.

Readiness is an event (the health endpoint answers 200), polled; a server
that exits first fails at once with the tail of its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

# vLLM's start on a loaded 2-core machine: imports, the engine core
# process, model loading, KV cache; minutes at worst.
START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 120
PROMPTS = ["the quick brown fox jumps over", "people find water and time"]
MAX_TOKENS = 12
TOP_LOGPROBS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(extra_path: Path) -> dict:
    """What every vLLM start here needs on a CPU-only test machine."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OSS_", "OSSC_", "LD_PRELOAD", "ENABLE_CONNECTOR", "MODEL_DIR",
                                "PYTHON", "VLLM_"))}
    env.update(PYTHONPATH=str(extra_path), VLLM_CPU_KVCACHE_SPACE="1", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
               VLLM_TARGET_DEVICE="cpu", TOKENIZERS_PARALLELISM="false")
    return env


class VllmServer:
    """One ``vllm serve`` process (its own process group, so a failed test
    can end every process it started)."""

    def __init__(self, vllm_python: Path, model: str, env: dict, log_path: Path,
                 extra_args=()):
        self.port = free_port()
        self.model = model
        self.log_path = log_path
        self._log = open(log_path, "w")
        args = [str(vllm_python), "-m", "vllm.entrypoints.cli.main", "serve", model,
                "--host", "127.0.0.1", "--port", str(self.port), "--dtype", "float32",
                "--max-model-len", "256", "--seed", "0", "--max-num-seqs", "4",
                "--enforce-eager", *extra_args]
        self.proc = subprocess.Popen(args, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def log_tail(self, n=6000) -> str:
        """The log's error lines (vLLM's processes interleave their
        tracebacks: the root cause is often far above the end), then its
        tail."""
        text = self.log_path.read_text(errors="replace")
        errors = [line for line in text.splitlines()
                  if "Error" in line or "ERROR" in line or "oss-connector" in line]
        return "error lines:\n" + "\n".join(errors[-40:]) + "\n--- tail:\n" + text[-n:]

    def wait_ready(self) -> float:
        """Seconds until /health answered 200."""
        started = time.monotonic()
        while time.monotonic() - started < START_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise AssertionError(f"vllm serve exited {self.proc.returncode} before it was "
                                     f"ready:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)  # polling interval of the health check, not a wait for an event
        raise AssertionError(f"vllm serve not ready after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def complete(self, served_name: str) -> list:
        """Greedy completions of PROMPTS: [(text, tokens, token logprobs,
        top logprobs)] per prompt."""
        body = json.dumps({"model": served_name, "prompt": PROMPTS, "max_tokens": MAX_TOKENS,
                           "temperature": 0, "logprobs": TOP_LOGPROBS, "seed": 0,
                           "ignore_eos": True}).encode()
        req = urllib.request.Request(self.url + "/v1/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=300) as r:
            reply = json.load(r)
        out = []
        for choice in sorted(reply["choices"], key=lambda c: c["index"]):
            lp = choice["logprobs"]
            out.append((choice["text"], lp["tokens"], lp["token_logprobs"], lp["top_logprobs"]))
        return out

    def _vllm_shm_segments(self) -> set:
        """The /dev/shm files vLLM's CPU tensor-parallel communicator
        (``vllm_dist_<id>-...-cpushm*``) has mapped in the server's
        processes (its process group)."""
        found = set()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if os.getpgid(int(pid)) != self.proc.pid:
                    continue
                with open(f"/proc/{pid}/maps") as maps:
                    for line in maps:
                        path = line.split(maxsplit=5)[-1].strip()
                        if path.startswith("/dev/shm/vllm_dist_") and "cpushm" in path:
                            found.add(path)
            except (OSError, ValueError):
                continue  # exited meanwhile, or not ours to read
        return found

    def stop(self) -> int:
        """SIGTERM to the server, as a user or an orchestrator stops it;
        returns its exit status.  vLLM 0.32's CPU backend leaves its
        tensor-parallel shared-memory files behind after SIGTERM: those
        this server mapped are removed (nothing else)."""
        segments = self._vllm_shm_segments() if self.proc.poll() is None else set()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"vllm serve ignored SIGTERM for {STOP_TIMEOUT_S} s:\n"
                                     f"{self.log_tail()}") from None
        for path in segments:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """Ends the server's whole process group (a failed test's cleanup)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def serving(*args, **kwargs):
    """A ready VllmServer for a with block; killed if the block fails."""
    server = VllmServer(*args, **kwargs)
    try:
        server.ready_s = server.wait_ready()
        yield server
    finally:
        if server.proc.poll() is None:
            server.kill()
        # vLLM's engine core and workers (same session) must not outlive it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)
