#!/usr/bin/env python3
"""Model load on an inference host: ours (LD_PRELOAD) against the floor and
the wire, with nothing but Python, torch and the files of the bundle
(build_bundle.sh).  Started by run.sh, which says what each option means;
writes OUT/result.json (every run) and OUT/summary.txt (the table), both
rewritten after every run, so that a run cut short still leaves them.

Rows (every loader a fresh process, every client once per round, the order
reversed every other round):
  floor_cpu    safetensors.torch.load_file of every shard from local disk
               (page cache warm)
  ours_cpu     the same loop on MODEL_DIR under LD_PRELOAD=libossc_preload.so
               (ENABLE_CONNECTOR=1, OSS_PATH on the local server; set-up included)
  floor_cuda   load_file(..., device='cuda') from local disk
  ours_cuda    the same under LD_PRELOAD
  wire         16 curl processes, ranged GETs of every shard into /dev/null
  wire_ram     16 curl processes writing the same ranges into files in the
               cache root (/dev/shm): the wire plus landing the bytes in RAM
Columns: median seconds (spawn to every tensor summed; curl: start to the
last byte), CPU seconds (user + system of every process of the run), peak
RSS (of the largest process), exit seconds (last tensor summed to the
process reaped).  Every loader sums every byte of every tensor and the sums
are compared with the generator's; the curl rows check every range's size,
wire_ram also every landed byte (after the clock stopped).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GiB = 1 << 30
BUCKET, PREFIX = "models", "bench-model/"
MASK = (1 << 64) - 1
LOADERS = ("floor_cpu", "ours_cpu", "floor_cuda", "ours_cuda")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def clean_env(**extra) -> dict:
    """This environment without the connector's, OSS's and AWS's variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OSS_", "OSSC_", "AWS_")) and
           k not in ("LD_PRELOAD", "ENABLE_CONNECTOR", "MODEL_DIR")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def cache_dir_name(model_dir: str) -> str:
    """The connector's node cache directory for MODEL_DIR (nodecache/attach.c:
    ossc-<uid>-<FNV-1a of the real path>): only this one is waited for."""
    h = 1469598103934665603
    for c in os.path.realpath(model_dir).encode():
        h = ((h ^ c) * 1099511628211) & MASK
    return f"ossc-{os.getuid()}-{h:016x}"


def run_child(cmd: list[str], env: dict, timeout: float) -> dict:
    """Runs cmd in its own session: t_spawn, t_end (monotonic), rc, stdout,
    stderr tail, CPU seconds and max RSS (wait4: the child and every
    descendant it reaped)."""
    t_spawn = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                             start_new_session=True)
        deadline = t_spawn + timeout
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                _, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        t_end = time.monotonic()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"t_spawn": t_spawn, "t_end": t_end, "rc": p.returncode, "timed_out": timed_out,
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace")[-3000:],
                "cpu_s": ru.ru_utime + ru.ru_stime, "max_rss": ru.ru_maxrss * 1024}


class Bench:
    def __init__(self, a):
        self.a = a
        self.facts: dict = {}
        self.model: dict = {}
        self.runs: list[dict] = []
        self.notes: list[str] = []
        self.errors: list[str] = []
        self.port = 0
        self.server = None
        self.cache_root = "/dev/shm"
        self.t0 = time.monotonic()

    # ------------------------------------------------------------ set-up
    def probe(self) -> None:
        code = ("import json, sys, torch, safetensors; d = {'python': sys.version.split()[0], "
                "'torch': torch.__version__, 'safetensors': safetensors.__version__, "
                "'cuda': torch.cuda.is_available()}; "
                "d['gpus'] = [torch.cuda.get_device_name(i) for i in "
                "range(torch.cuda.device_count())] if d['cuda'] else []; print('FACTS', json.dumps(d))")
        r = run_child([self.a.python, "-c", code], clean_env(PYTHONPATH=self.a.site_fallback), 300)
        line = next((ln for ln in r["stdout"].splitlines() if ln.startswith("FACTS ")), None)
        if not line:
            raise SystemExit(f"python/torch/safetensors probe failed: {r['stderr']}")
        self.facts.update(json.loads(line[6:]))
        with open("/proc/meminfo") as f:
            mem = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f}
        self.facts.update({"cpus": len(os.sched_getaffinity(0)),
                           "mem_gib": round(mem["MemTotal"] / GiB, 1),
                           "load_start": [round(x, 2) for x in os.getloadavg()],
                           "kernel": os.uname().release})
        if self.a.no_cuda:
            self.facts["cuda"] = False
        if not self.facts["cuda"]:
            self.notes.append("no GPU (torch.cuda.is_available() is False): the cuda rows are "
                              "skipped")
        log(f"facts {json.dumps(self.facts)}")

    def generate(self) -> None:
        a = self.a
        data = os.path.join(a.work, "data")
        model_dir = os.path.join(data, BUCKET, PREFIX)
        expected = os.path.join(a.work, "expected.json")
        r = run_child([a.python, os.path.join(HERE, "gen_model.py"), model_dir, str(a.size_gib),
                       str(a.shards), expected], clean_env(), 1800)
        if r["rc"] != 0:
            raise SystemExit(f"gen_model.py failed: {r['stderr']}")
        log(r["stdout"].strip())
        with open(expected) as f:
            self.model = json.load(f)
        self.model.update(dir=model_dir, data_root=data)
        subprocess.run(["sync"], timeout=300)
        need = int(self.model["bytes"] * 1.1) + GiB
        st = os.statvfs(self.cache_root)
        if st.f_bavail * st.f_frsize < need:
            self.notes.append(f"{self.cache_root} has less than {need / GiB:.1f} GiB free: "
                              "the ours rows may fail for lack of room")

    def start_server(self) -> None:
        a = self.a
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        logf = open(os.path.join(a.work, "server.log"), "w")
        self.server = subprocess.Popen(
            [a.python, os.path.join(HERE, "localbucket_oss.py"), "--port", str(self.port),
             self.model["data_root"]], env=clean_env(PYTHONPATH=a.site), stdin=subprocess.DEVNULL,
            stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{self.port}/{BUCKET}/{PREFIX}{self.model['shards'][0]}"
        deadline = time.monotonic() + 60
        while True:
            if self.server.poll() is not None:
                raise SystemExit(f"server exited with status {self.server.returncode}; "
                                 f"see {a.work}/server.log")
            try:
                req = urllib.request.Request(url, headers={"Range": "bytes=1000-1999"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    body, status = r.read(), r.status
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise SystemExit("server did not answer within 60 s")
                time.sleep(0.1)
        with open(os.path.join(self.model["dir"], self.model["shards"][0]), "rb") as f:
            f.seek(1000)
            if status != 206 or body != f.read(1000):
                raise SystemExit(f"server's ranged GET is wrong (status {status})")
        log(f"server on 127.0.0.1:{self.port}")

    def stop_server(self) -> None:
        if self.server and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()

    # ------------------------------------------------------------ runs
    def loader(self, client: str, rnd: int) -> dict:
        a = self.a
        device = "cuda" if client.endswith("cuda") else "cpu"
        rec = {"client": client, "round": rnd}
        env = clean_env(PYTHONPATH=a.site_fallback)
        d = self.model["dir"]
        if client.startswith("ours"):
            d = os.path.join(a.work, "md", f"{client}_r{rnd}")
            os.makedirs(d, exist_ok=True)
            env.update(LD_PRELOAD=os.path.join(a.rt, "libossc_preload.so"), ENABLE_CONNECTOR="1",
                       OSS_ENDPOINT=f"http://127.0.0.1:{self.port}",
                       OSS_PATH=f"oss://{BUCKET}/{PREFIX}", MODEL_DIR=d,
                       OSS_ACCESS_KEY_ID="bench", OSS_ACCESS_KEY_SECRET="bench",
                       OSS_CONNECTOR_CONFIG=os.path.join(a.work, "connector.json"),
                       OSSC_CACHE_DIR=self.cache_root)
        spec = {"dir": d, "device": device, "procs": a.procs, "model_bytes": self.model["bytes"]}
        r = run_child([a.python, os.path.join(HERE, "load_worker.py"), json.dumps(spec)], env,
                      a.run_timeout)
        res = next((json.loads(ln[7:]) for ln in r["stdout"].splitlines()
                    if ln.startswith("RESULT ")), None)
        rec.update(cpu_s=round(r["cpu_s"], 2))
        if client.startswith("ours"):
            rec["cache_cleanup_s"] = self.wait_cache_gone(d)
        ranks = (res or {}).get("ranks", [res] if res else [])
        if r["rc"] != 0 or not ranks or len(ranks) != a.procs:
            rec.update(ok=False, error=f"exit status {r['rc']} (timed out: {r['timed_out']}): "
                                       f"{r['stderr']}")
            return rec
        bad = []
        for x in ranks:
            want = self.model["sums"]
            if x["sums"] != want or x["bytes"] != self.model["bytes"]:
                wrong = [k for k in want if x["sums"].get(k) != want[k]]
                bad.append(f"pid {x['pid']}: {len(wrong)} tensors differ, e.g. {wrong[:3]}")
        t_done = max(x["t_done"] for x in ranks)
        rec.update(ok=not bad, seconds=round(t_done - r["t_spawn"], 3),
                   exit_s=round(r["t_end"] - t_done, 3),
                   peak_rss_gib=round(max([x["peak_rss"] for x in ranks] + [r["max_rss"]]) / GiB,
                                      3),
                   imported_s=round(max(x["t_imported"] for x in ranks) - r["t_spawn"], 3))
        if bad:
            rec["error"] = "CHECKSUM MISMATCH: " + "; ".join(bad)
        return rec

    def wait_cache_gone(self, model_dir: str) -> float:
        """Seconds until the connector's cache of model_dir is gone (its
        watcher removes it once no process uses it), at most cleanup_wait."""
        path = os.path.join(self.cache_root, cache_dir_name(model_dir))
        t = time.monotonic()
        while os.path.exists(path) and time.monotonic() - t < self.a.cleanup_wait:
            time.sleep(0.05)
        if os.path.exists(path):
            self.notes.append(f"cache {path} still there {self.a.cleanup_wait} s after the run")
        return round(time.monotonic() - t, 2)

    def ranges(self, streams: int) -> list[tuple[str, int, int, str]]:
        """(url, first, last, shard path) of `streams` ranges over the shards,
        each shard's share in proportion to its size."""
        shards = [(s, os.path.getsize(os.path.join(self.model["dir"], s)))
                  for s in self.model["shards"]]
        total = sum(n for _, n in shards)
        out = []
        for name, size in shards:
            parts = max(1, round(streams * size / total))
            for i in range(parts):
                a, b = size * i // parts, size * (i + 1) // parts - 1
                out.append((f"http://127.0.0.1:{self.port}/{BUCKET}/{PREFIX}{name}", a, b,
                            os.path.join(self.model["dir"], name)))
        return out

    def wire(self, client: str, rnd: int) -> dict:
        """16 curl processes, one range each, into /dev/null or (wire_ram)
        into files in the cache root."""
        rec = {"client": client, "round": rnd}
        jobs = self.ranges(16)
        sink = tempfile.mkdtemp(prefix="host-bench-wire-", dir=self.cache_root) \
            if client == "wire_ram" else None
        try:
            outs = [os.path.join(sink, f"r{i}") if sink else "/dev/null" for i in range(len(jobs))]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.monotonic()
            procs = [subprocess.Popen([self.a.curl, "-sS", "--fail", "-r", f"{a}-{b}", "-o", o,
                                       "-w", "%{size_download}", url], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=clean_env())
                     for (url, a, b, _), o in zip(jobs, outs)]
            results = [p.communicate() for p in procs]
            seconds = time.monotonic() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            bad = [f"range {a}-{b}: exit {p.returncode}, {out.decode().strip() or '?'} bytes "
                   f"{err.decode()[-200:]}" for (url, a, b, _), p, (out, err)
                   in zip(jobs, procs, results)
                   if p.returncode != 0 or out.decode().strip() != str(b - a + 1)]
            if sink and not bad:   # every landed byte, after the clock stopped
                for (_, a, b, src), o in zip(jobs, outs):
                    with open(src, "rb") as f1, open(o, "rb") as f2:
                        f1.seek(a)
                        left = b - a + 1
                        while left:
                            n = min(left, 64 << 20)
                            if f1.read(n) != f2.read(n):
                                bad.append(f"range {a}-{b} of {src}: bytes differ")
                                break
                            left -= n
            rec.update(ok=not bad, seconds=round(seconds, 3),
                       cpu_s=round(after.ru_utime - before.ru_utime + after.ru_stime -
                                   before.ru_stime, 2))
            if bad:
                rec["error"] = "; ".join(bad[:3])
        finally:
            if sink:
                shutil.rmtree(sink, ignore_errors=True)
        return rec

    # ------------------------------------------------------------ report
    def clients(self) -> list[str]:
        cs = ["floor_cpu", "ours_cpu"]
        if self.facts.get("cuda"):
            cs += ["floor_cuda", "ours_cuda"]
        return cs + ["wire", "wire_ram"]

    def table(self) -> dict:
        rows = {}
        for c in self.clients():
            rs = [r for r in self.runs if r["client"] == c]
            ok = [r for r in rs if r.get("ok")]
            row = {"runs": len(rs), "ok": len(ok)}
            for k in ("seconds", "cpu_s", "peak_rss_gib", "exit_s", "imported_s",
                      "cache_cleanup_s"):
                v = [r[k] for r in ok if r.get(k) is not None]
                if v:
                    row[k] = round(statistics.median(v), 3)
            if ok:
                row["min_s"] = min(r["seconds"] for r in ok)
                row["max_s"] = max(r["seconds"] for r in ok)
            rows[c] = row
        return rows

    def write(self, final: bool) -> None:
        a = self.a
        table = self.table()
        sfx = f" x{a.procs}" if a.procs > 1 else ""
        ratios = {}
        g = lambda c, k="seconds": table.get(c, {}).get(k)  # noqa: E731
        for dev in ("cpu", "cuda"):
            f, o = g(f"floor_{dev}"), g(f"ours_{dev}")
            if f and o:
                ratios[f"ours/floor {dev}"] = round(o / f, 3)
                if g("wire_ram"):
                    ratios[f"ours/(floor+wire_ram) {dev}"] = round(o / (f + g("wire_ram")), 3)
                if g(f"floor_{dev}", "exit_s") is not None and g(f"ours_{dev}", "exit_s") is not None:
                    ratios[f"exit ours-floor {dev} s"] = round(
                        g(f"ours_{dev}", "exit_s") - g(f"floor_{dev}", "exit_s"), 3)
        if g("ours_cpu", "cpu_s") and g("wire_ram", "cpu_s"):
            ratios["CPU s ours_cpu / wire_ram"] = round(g("ours_cpu", "cpu_s") /
                                                        g("wire_ram", "cpu_s"), 2)
        result = {"final": final, "facts": self.facts, "notes": self.notes,
                  "errors": self.errors, "model": {k: v for k, v in self.model.items()
                                                   if k != "sums"},
                  "procs": a.procs, "table": table, "ratios": ratios, "runs": self.runs}
        with open(os.path.join(a.out, "result.json.tmp"), "w") as f:
            json.dump(result, f, indent=1)
        os.replace(os.path.join(a.out, "result.json.tmp"), os.path.join(a.out, "result.json"))
        fa = self.facts
        L = [f"inference-host model load ({'final' if final else 'PARTIAL'}), "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}",
             f"machine: {fa.get('cpus')} CPUs, {fa.get('mem_gib')} GiB RAM, kernel "
             f"{fa.get('kernel')}, load at start {fa.get('load_start')}; python "
             f"{fa.get('python')}, torch {fa.get('torch')}, safetensors "
             f"{fa.get('safetensors')}, GPUs {fa.get('gpus') or 'none'}",
             f"model: {self.model.get('bytes', 0) / GiB:.2f} GiB bf16, "
             f"{self.model.get('tensors')} tensors, {len(self.model.get('shards', []))} shards; "
             f"server: localbucket + the project's OSS adapter on 127.0.0.1; cache root "
             f"{self.cache_root}; PROCS={a.procs}"
             + (" (each loader row: one parent starting that many processes at once, each "
                "loading ALL shards)" if a.procs > 1 else ""), "",
             "| client | ok/runs | median s | min s | max s | CPU s | peak RSS GiB | exit s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        for c in self.clients():
            r = table[c]
            L.append(f"| {c}{sfx if c in LOADERS else ''} | {r['ok']}/{r['runs']} | "
                     f"{fmt(r.get('seconds'))} | {fmt(r.get('min_s'))} | {fmt(r.get('max_s'))} | "
                     f"{fmt(r.get('cpu_s'))} | {fmt(r.get('peak_rss_gib'))} | "
                     f"{fmt(r.get('exit_s')) if c in LOADERS else ''} |")
        L.append("")
        L += [f"{k}: {v}" for k, v in ratios.items()]
        L += ["", "runs in order:"]
        for r in self.runs:
            L.append(f"  r{r['round']} {r['client']:10s} {'ok  ' if r.get('ok') else 'FAIL'} "
                     f"{fmt(r.get('seconds'))} s  cpu {fmt(r.get('cpu_s'))}  rss "
                     f"{fmt(r.get('peak_rss_gib'))}  exit {fmt(r.get('exit_s'))}"
                     + (f"  ERROR {r['error'][:400]}" if r.get("error") else ""))
        L += [f"note: {n}" for n in self.notes] + [f"ERROR: {e}" for e in self.errors]
        with open(os.path.join(a.out, "summary.txt"), "w") as f:
            f.write("\n".join(L) + "\n")

    def run(self) -> int:
        a = self.a
        with open(os.path.join(a.work, "connector.json"), "w") as f:
            json.dump({"logPath": os.path.join(a.work, "connector.log"), "auditPath": ""}, f)
        self.probe()
        self.generate()
        self.start_server()
        try:
            for rnd in range(1, a.rounds + 1):
                if rnd > 1 and time.monotonic() - self.t0 > a.budget:
                    self.notes.append(f"stopped after {rnd - 1} rounds: the {a.budget:.0f} s "
                                      "budget was spent")
                    break
                order = self.clients() if rnd % 2 else self.clients()[::-1]
                for c in order:
                    rec = self.wire(c, rnd) if c.startswith("wire") else self.loader(c, rnd)
                    self.runs.append(rec)
                    log(f"r{rnd} {c:10s} {'ok' if rec.get('ok') else 'FAILED'} "
                        f"{rec.get('seconds')} s, CPU {rec.get('cpu_s')} s"
                        + (f": {rec['error'][:300]}" if rec.get("error") else ""))
                    self.write(final=False)
        finally:
            self.stop_server()
        self.write(final=True)
        failed = [r for r in self.runs if not r.get("ok")]
        return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size-gib", type=float, default=16)
    p.add_argument("--shards", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--rt", required=True, help="folder of libossc_preload.so and lib/")
    p.add_argument("--curl", required=True)
    p.add_argument("--site", required=True, help="localbucket's module folder")
    p.add_argument("--site-fallback", default="",
                   help="PYTHONPATH for the loaders (the bundle's safetensors when the host "
                        "has none)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--budget", type=float, default=420,
                   help="seconds after which no further round starts")
    p.add_argument("--run-timeout", type=float, default=600)
    p.add_argument("--cleanup-wait", type=float, default=30)
    p.add_argument("--no-cuda", action="store_true")
    a = p.parse_args()
    a.procs = max(1, a.procs)
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.work, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    return Bench(a).run()


if __name__ == "__main__":
    sys.exit(main())
