#!/usr/bin/env python3
"""Scenario fill_cpu: what landing a model's bytes in /dev/shm costs through
the LD_PRELOAD node cache, against curl landing the same bytes, and how
long the process takes to exit (issue 17, items 1 and 3).

``--files`` random files of ``--size-gib`` in all are served by localbucket
(behind our OSS adapter, on 127.0.0.1).  In rounds (every client once per
round, so that other work on the machine hits them alike):

* ``floor``     scenarios/fill_cpu_worker.py on the source files on local
                disk, page cache warm, no LD_PRELOAD: the process's own CPU
                and its exit time with nothing to land;
* ``curl_ram``  16 curl processes, one per range, writing the same bytes
                into files on /dev/shm (their CPU, from ``getrusage`` of the
                children);
* ``ours``      the same worker with ``LD_PRELOAD=libossc_preload.so``,
                ``ENABLE_CONNECTOR=1 OSS_PATH=... MODEL_DIR=...``: it reads the
                last byte of every file of MODEL_DIR, which waits until the
                whole file has landed in the node cache and was verified;
* ``base``      (with ``--baseline-preload PATH``) the same as ``ours`` with
                another build of the library, e.g. main's, to compare two
                builds in one run.

CPU is the worker's own (``getrusage(RUSAGE_SELF)`` when the last file has
landed: every thread, setup included; neither the hashing after the clock
nor the watcher, a detached process that frees the cache after the last
process left, as the unlinking of curl's files is not counted either).
"CPU net" subtracts the floor's CPU (the interpreter's start).  Exit is the
time from the worker's last statement until ``wait4`` returns in the parent
(blocking, not polled).  Every file is checked by SHA-256 against the
source, after the clock.

    python3 scripts/bench/run.py --scenario fill_cpu --size-gib 2 --runs 3
    python3 scripts/bench/run.py --scenario fill_cpu --quick       # 256 MiB, 1 round
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))   # scripts/bench

from infra import DOC, REPO  # noqa: E402
from report import add_output_args, machine_basics, write_outputs  # noqa: E402

MARK_START, MARK_END = "<!-- fill_cpu:start -->", "<!-- fill_cpu:end -->"
BUCKET, PREFIX = "models", "fill/"
GiB = 1 << 30
CLIENTS = ["floor", "curl_ram", "ours"]


# ------------------------------------------------------------------ data

def make_files(directory: Path, size: int, count: int) -> dict[str, str]:
    """``count`` random files of ``size`` bytes in all; {name: sha256}."""
    from infra.data import write_random

    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(count):
        name = f"shard-{i:03d}.bin"
        path = directory / name
        each = size // count + (1 if i < size % count else 0)
        if not path.exists() or path.stat().st_size != each:
            write_random(path, each, seed=17 + i)
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
        out[name] = h.hexdigest()
    os.sync()
    return out


# ------------------------------------------------------------------ one run

def run_timed(cmd: list[str], env: dict, timeout: float) -> dict:
    """Runs the worker, waiting for it in a blocking ``wait4`` (a timer kills
    its session after ``timeout``); its RESULT plus ``end`` (monotonic, when
    wait4 returned) or {"error"}."""
    out = tempfile.TemporaryFile(mode="w+")
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True)
    timer = threading.Timer(timeout, lambda: os.killpg(proc.pid, 9))
    timer.start()
    try:
        _, status, _ = os.wait4(proc.pid, 0)
        end = time.monotonic()
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    stdout, stderr = out.read(), err.read()
    res = next((json.loads(ln[7:]) for ln in reversed(stdout.splitlines())
                if ln.startswith("RESULT ")), None)
    if proc.returncode != 0 or res is None:
        tail = " / ".join(ln.strip() for ln in stderr.splitlines()[-3:])
        return {"error": f"exit {proc.returncode}: {tail[-400:]}"}
    res["end"] = end
    return res


class Bench:
    def __init__(self, args, work: Path, server, src: Path, sums: dict[str, str]):
        from infra.worker_env import write_client_files

        self.args, self.work, self.server, self.src, self.sums = args, work, server, src, sums
        self.nbytes = sum((src / n).stat().st_size for n in sums)
        _, self.config, _ = write_client_files(work)
        self.preload = subprocess.run([sys.executable, "-m", "ossconnector.preload"],
                                      capture_output=True, text=True, check=True).stdout.strip()
        self.curl = shutil.which("curl") or "/usr/bin/curl"

    def _env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OSS_", "OSSC_")) and k != "LD_PRELOAD"}
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def worker(self, directory: Path, env: dict) -> dict:
        files = [str(directory / n) for n in sorted(self.sums)]
        cmd = [sys.executable, str(HERE / "fill_cpu_worker.py"), json.dumps({"files": files})]
        res = run_timed(cmd, env, self.args.timeout)
        if "error" in res:
            return res
        bad = [n for n, d in res["sha256"].items() if d != self.sums[n]]
        if bad:
            return {"error": f"wrong bytes in {bad}"}
        return {"seconds": res["t_done"] - res["t_start"], "cpu": res["cpu_done"],
                "exit_s": res["end"] - res["t_exit"]}

    def run(self, key: str) -> dict:
        if key == "floor":
            return self.worker(self.src, self._env())
        if key == "curl_ram":
            from infra.servers import curl_landed

            urls = [(self.server.url(BUCKET, PREFIX + n), (self.src / n).stat().st_size)
                    for n in sorted(self.sums)]
            sink = tempfile.mkdtemp(prefix="bench-curl-", dir="/dev/shm")
            try:
                seconds, cpu = curl_landed(self.curl, urls, 16, sink)
                return {"seconds": seconds, "cpu": cpu}
            except RuntimeError as e:
                return {"error": str(e)}
            finally:
                shutil.rmtree(sink, ignore_errors=True)
        run_dir = Path(tempfile.mkdtemp(prefix="run-ours-", dir=self.work))
        try:
            model_dir = run_dir / "model"
            preload = self.args.baseline_preload if key == "base" else self.preload
            env = self._env(LD_PRELOAD=preload, ENABLE_CONNECTOR=1,
                            OSS_ENDPOINT=self.server.endpoint,
                            OSS_PATH=f"oss://{BUCKET}/{PREFIX}", MODEL_DIR=model_dir,
                            OSS_ACCESS_KEY_ID="bench", OSS_ACCESS_KEY_SECRET="bench",
                            OSS_CONNECTOR_CONFIG=self.config,
                            **({"OSSC_CACHE_HUGEPAGES": self.args.hugepages}
                               if self.args.hugepages is not None else {}))
            return self.worker(model_dir, env)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)


def med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def clients(args) -> list[str]:
    return CLIENTS + (["base"] if args.baseline_preload else [])


def run_rounds(bench: Bench, runs: int) -> dict:
    keys = clients(bench.args)
    series = {k: {"seconds": [], "cpu": [], "exit_s": [], "errors": []} for k in keys}
    for rnd in range(runs + 1):   # round 0 warms up, not recorded
        label = "warm-up" if rnd == 0 else f"round {rnd}/{runs}"
        for key in keys:
            if key != "floor":
                # Memory the previous run freed goes back to the hypervisor
                # after a moment: every client that lands bytes starts on
                # fresh memory alike (see model_load's --settle).
                time.sleep(bench.args.settle)
            res = bench.run(key)
            if "error" in res:
                series[key]["errors"].append(res["error"])
                print(f"{label} {key:10s} FAILED: {res['error'][:300]}", flush=True)
                continue
            if rnd:
                for name in ("seconds", "cpu", "exit_s"):
                    if name in res:
                        series[key][name].append(res[name])
            ex = f", exit {res['exit_s']:.3f} s" if "exit_s" in res else ""
            print(f"{label} {key:10s} {res['seconds']:6.2f} s, CPU {res['cpu']:.2f} s{ex}",
                  flush=True)
    return series


def summarize(series: dict, nbytes: int) -> dict:
    gib = nbytes / GiB
    floor_cpu = med(series["floor"]["cpu"]) or 0.0
    ours_cpu, curl_cpu = med(series["ours"]["cpu"]), med(series["curl_ram"]["cpu"])
    out = {"gib": gib, "floor_cpu_s": floor_cpu,
           "floor_exit_s": med(series["floor"]["exit_s"]),
           "ours_exit_s": med(series["ours"]["exit_s"]),
           "ours_s": med(series["ours"]["seconds"]),
           "curl_ram_s": med(series["curl_ram"]["seconds"])}
    if ours_cpu is not None and curl_cpu:
        out["ours_cpu_s_per_gib"] = ours_cpu / gib
        out["ours_net_cpu_s_per_gib"] = (ours_cpu - floor_cpu) / gib
        out["curl_cpu_s_per_gib"] = curl_cpu / gib
        out["ours_net_over_curl"] = (ours_cpu - floor_cpu) / curl_cpu
        out["target_1_2x_met"] = out["ours_net_over_curl"] <= 1.2
    base_cpu = med(series["base"]["cpu"]) if "base" in series else None
    if base_cpu is not None and curl_cpu:
        out["base_net_over_curl"] = (base_cpu - floor_cpu) / curl_cpu
        out["base_exit_s"] = med(series["base"]["exit_s"])
    if out["ours_exit_s"] is not None and out["floor_exit_s"] is not None:
        out["exit_over_floor_s"] = out["ours_exit_s"] - out["floor_exit_s"]
        out["target_exit_met"] = out["exit_over_floor_s"] <= 0.3
    return out


def table(series: dict, summary: dict, markdown: bool) -> str:
    gib = summary["gib"]
    head = ["client", "median s", "CPU s", "CPU s/GiB", "CPU net s/GiB", "exit s", "runs",
            "note"]
    rows = []
    for k, s in series.items():
        cpu, sec, ex = med(s["cpu"]), med(s["seconds"]), med(s["exit_s"])
        net = (cpu - summary["floor_cpu_s"]) / gib if cpu is not None and k in ("ours", "base") \
            else \
            (cpu / gib if cpu is not None and k == "curl_ram" else None)
        rows.append([k, f"{sec:.2f}" if sec is not None else "failed",
                     f"{cpu:.2f}" if cpu is not None else "",
                     f"{cpu / gib:.3f}" if cpu is not None else "",
                     f"{net:.3f}" if net is not None else "",
                     f"{ex:.3f}" if ex is not None else "", str(len(s["seconds"])),
                     "; ".join(dict.fromkeys(e[:120] for e in s["errors"]))])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
                     for r in [head, *rows])


def markdown_section(doc: dict) -> str:
    m, s = doc["machine"], doc["summary"]
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {m['cores']} cores ({m['cpu']}), "
             f"{m['memory_GiB']} GiB RAM, {m['os']}, kernel {m['kernel']}, "
             f"`shmem_enabled` {m['shmem_enabled']}; localbucket + OSS adapter on 127.0.0.1. "
             f"Load average at start: {m['load_average_at_start']}. {doc['params']['files']} "
             f"files, {s['gib']:.2f} GiB; median of {doc['params']['runs']} rounds after a "
             "warm-up round.", "", "```", doc["command"], "```", "",
             table(doc["series"], s, markdown=True), ""]
    if "ours_net_over_curl" in s:
        lines.append(f"- CPU per GiB landed, net of the interpreter's start: ours "
                     f"{s['ours_net_cpu_s_per_gib']:.2f} s, curl {s['curl_cpu_s_per_gib']:.2f} s"
                     f": {s['ours_net_over_curl']:.2f}× "
                     f"({'meets' if s['target_1_2x_met'] else 'misses'} the 1.2× target).")
    if "exit_over_floor_s" in s:
        lines.append(f"- Exit: ours {s['ours_exit_s']:.3f} s, floor {s['floor_exit_s']:.3f} s "
                     f"(+{s['exit_over_floor_s']:.3f} s; target ≤ floor + 0.3 s: "
                     f"{'met' if s['target_exit_met'] else 'missed'}).")
    if "base_net_over_curl" in s:
        lines.append(f"- base (the build given with --baseline-preload), same run: "
                     f"{s['base_net_over_curl']:.2f}× curl's CPU, exit {s['base_exit_s']:.3f} s.")
    return "\n".join(lines)


# ------------------------------------------------------------------ main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size-gib", type=float, default=2.0, help="bytes to land, in all (GiB)")
    p.add_argument("--files", type=int, default=8, help="number of files")
    p.add_argument("--runs", type=int, default=3, help="timed rounds after one warm-up round")
    p.add_argument("--quick", action="store_true", help="256 MiB, 1 round (smoke run)")
    p.add_argument("--settle", type=float, default=6.0,
                   help="seconds to wait before each run that lands bytes (fresh memory)")
    p.add_argument("--hugepages", choices=["0", "1"],
                   help="OSSC_CACHE_HUGEPAGES for ours (default: unset, the library's default)")
    p.add_argument("--baseline-preload", metavar="PATH",
                   help="also run 'base': ours with this libossc_preload.so (another build)")
    p.add_argument("--workdir", help="keep the files here between runs (default: temporary)")
    p.add_argument("--timeout", type=float, default=600, help="seconds per run")
    add_output_args(p, DOC.relative_to(REPO), MARK_START, MARK_END)
    a = p.parse_args(argv)
    if a.quick:
        a.size_gib, a.runs, a.settle = 0.25, 1, 1.0
    return a


def shmem_enabled() -> str:
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/shmem_enabled").read_text()
    except OSError:
        return "?"
    return next((w.strip("[]") for w in text.split() if w.startswith("[")), text.strip())


def run(args, command: str) -> dict:
    from infra.data import PageCachePin
    from infra.servers import LocalBucket

    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()} at the start: other work on this "
              "machine lowers and scatters the numbers", file=sys.stderr)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-fill-cpu-"))
    work.mkdir(parents=True, exist_ok=True)
    os.chmod(work, 0o755)
    try:
        root = work / "buckets"
        src = root / BUCKET / PREFIX.rstrip("/")
        sums = make_files(src, int(args.size_gib * GiB), args.files)
        with LocalBucket(root) as server, PageCachePin([src / n for n in sums]):
            bench = Bench(args, work, server, src, sums)
            mach = {**machine_basics(), "shmem_enabled": shmem_enabled()}
            print(json.dumps(mach), flush=True)
            series = run_rounds(bench, args.runs)
        summary = summarize(series, bench.nbytes)
        return {"command": command, "machine": mach, "series": series, "summary": summary,
                "params": {"size_gib": args.size_gib, "files": args.files, "runs": args.runs,
                           "hugepages": args.hugepages}}
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


def main(argv=None, command: str | None = None) -> int:
    args = parse_args(argv)
    command = command or shlex.join(["python3", "scripts/bench/run.py", "--scenario", "fill_cpu",
                                     *(sys.argv[1:] if argv is None else argv)])
    doc = run(args, command)
    print()
    print(table(doc["series"], doc["summary"], markdown=False))
    print(json.dumps(doc["summary"], indent=1))
    write_outputs(args, doc, DOC, MARK_START, MARK_END, lambda: markdown_section(doc))
    return 0 if all(not s["errors"] for s in doc["series"].values()) else 1


if __name__ == "__main__":
    from infra import run_main

    run_main(main)
