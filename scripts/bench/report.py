"""Benchmark output, for every scenario: the machine description, results
as records of ``docs/benchmarks/results.json`` (merged with the records of
scenarios not run this time), console and Markdown tables, PNG plots, and a
Markdown section kept between two markers in a document.

The record of one client in one scenario (the schema external checks
read; keep every key and its meaning): ``scenario``, ``client``,
``server``, ``variant``, ``median``/``min``/``max`` (rates in ``unit``, or
seconds for model_load), ``unit``, ``ceiling`` (the server's rate for the
same work, or None), ``method``, ``key`` (the row's name when a client has
several), ``runs``, ``peak_rss_bytes``, ``cpu_s``, ``cpu_s_per_gib`` and,
for the dataset scenarios, ``MB_per_s``.

The engine_get scenario keeps its own :class:`Result` rows (one process,
many ways of reading), formatted by :func:`format_table`."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

GiB = 1 << 30


@dataclass
class Result:
    """Wall times of the timed runs of one way of reading one workload."""

    workload: str        # "large" or "small"
    client: str          # "curl", "ours" or "oss2"
    method: str          # what exactly was run
    nbytes: int          # bytes read per run
    objects: int         # objects read per run
    seconds: list[float] = field(default_factory=list)
    diagnostic: bool = False  # shown, but not used for the ratios

    def gbps(self) -> list[float]:
        return [self.nbytes / s / 1e9 for s in self.seconds]

    def median_gbps(self) -> float:
        return self.nbytes / statistics.median(self.seconds) / 1e9

    def objects_per_s(self) -> float:
        return self.objects / statistics.median(self.seconds)

    def summary(self) -> dict:
        rates = self.gbps()
        return {"median_GBps": self.median_gbps(), "min_GBps": min(rates),
                "max_GBps": max(rates), "median_objects_per_s": self.objects_per_s()}


def _best(results: Iterable[Result], workload: str, client: str) -> Optional[Result]:
    pool = [r for r in results if r.workload == workload and r.client == client
            and not r.diagnostic]
    return max(pool, key=Result.median_gbps, default=None)


def ratios(results: list[Result]) -> dict:
    """Per workload: the best (highest median) non-diagnostic result of each
    client and the ratios of ours to each other client's best median."""
    out = {}
    for workload in dict.fromkeys(r.workload for r in results):
        clients = dict.fromkeys(r.client for r in results if r.workload == workload)
        best = {c: _best(results, workload, c) for c in clients}
        entry = {f"best_{c}": (r.method if r else None) for c, r in best.items()}
        for other in clients:
            if other == "ours":
                continue
            if best.get("ours") and best[other]:
                entry[f"ours_over_{other}"] = best["ours"].median_gbps() / best[other].median_gbps()
        out[workload] = entry
    return out


def _ratio(r: Result, best: Optional[Result]) -> str:
    return f"{r.median_gbps() / best.median_gbps():.2f}" if best else "-"


def _rows(results: list[Result], labels: dict[str, str]) -> list[list[str]]:
    rows = []
    for r in results:
        rates = r.gbps()
        curl = _best(results, r.workload, "curl")
        oss2 = _best(results, r.workload, "oss2")
        per_s = f"{r.objects_per_s():,.0f}" if r.objects > 1 else ""
        method = r.method + (" (diagnostic)" if r.diagnostic else "")
        rows.append([labels.get(r.workload, r.workload), r.client, method,
                     f"{r.median_gbps():.2f}", f"{min(rates):.2f}", f"{max(rates):.2f}", per_s,
                     _ratio(r, curl), _ratio(r, oss2)])
    return rows


_HEADER = ["workload", "client", "method", "median GB/s", "min GB/s", "max GB/s",
           "objects/s", "vs best curl", "vs best oss2"]


def format_table(results: list[Result], labels: dict[str, str], markdown: bool = False) -> str:
    """The results as an aligned text table, or a Markdown table."""
    rows = _rows(results, labels)
    if markdown:
        lines = ["| " + " | ".join(_HEADER) + " |",
                 "|" + "|".join(["---"] * 3 + ["---:"] * (len(_HEADER) - 3)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(_HEADER)]
    fmt = "  ".join(f"{{:{'<' if i < 3 else '>'}{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*_HEADER), fmt.format(*("-" * w for w in widths))]
                     + [fmt.format(*row) for row in rows])


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"


def _proc_field(path: str, name: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def _os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "?")
    except OSError:
        return "?"


def machine_basics() -> dict:
    """The machine every benchmark prints: CPU, cores, memory, OS, kernel,
    load average at the start, Python.  Each script adds its server and the
    versions of the clients it runs."""
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_GiB": round(int(mem_kib) / 2**20, 1) if mem_kib.isdigit() else "?",
        "os": _os_name(),
        "kernel": platform.release(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def machine_description(nginx_version: str, curl_binary: str) -> dict:
    """What engine_get's numbers were measured on."""
    import oss2

    import ossconnector

    return {**machine_basics(), "nginx": nginx_version,
            "curl": _first_line([curl_binary, "--version"]),
            "oss2": oss2.__version__, "ossconnector": ossconnector.__version__}


def to_json(machine: dict, command: str, params: dict, results: list[Result]) -> dict:
    return {
        "machine": machine,
        "command": command,
        "params": params,
        "results": [{"workload": r.workload, "client": r.client, "method": r.method,
                     "bytes": r.nbytes, "objects": r.objects, "seconds": r.seconds,
                     "diagnostic": r.diagnostic, **r.summary()} for r in results],
        "ratios": ratios(results),
    }


def replace_section(path: Path, start: str, end: str, body: str, title: str) -> None:
    """Writes ``body`` between the ``start`` and ``end`` marker lines of the
    document at ``path``, appending the markers when absent (the document is
    created with ``title`` when it does not exist)."""
    block = f"{start}\n{body.rstrip()}\n{end}"
    text = path.read_text() if path.exists() else f"# {title}\n"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def add_output_args(parser, doc: Path, start: str, end: str) -> None:
    """A standalone scenario's --json PATH and --markdown options (for
    ``write_outputs``): the raw results as JSON, and the scenario's section
    of ``doc`` between the ``start`` and ``end`` marker lines."""
    parser.add_argument("--json", metavar="PATH", help="write the raw results as JSON")
    parser.add_argument("--markdown", action="store_true",
                        help=f"write the results into {doc} between {start} and {end}")


def write_outputs(args, results: dict, doc: Path, start: str, end: str, section) -> None:
    """What ``add_output_args``' options ask for: results as JSON to
    args.json, and section() (called only then) into doc."""
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    if args.markdown:
        replace_section(doc, start, end, section(), "Benchmarks")
        print(f"wrote {doc}")


# ------------------------------------------------------------------ the full-API server scenarios

TITLES = {"servers": "server GET ceilings: 16 parallel ranged curl, one object",
          "big_read": "big_read: one object, sequential readinto",
          "small_objects": "small_objects: DataLoader epoch over small objects",
          "tar_epoch": "tar_epoch: DataLoader epoch over one indexed tar",
          "ckpt_save": "ckpt_save: torch.save of a state dict into the store",
          "ckpt_load": "ckpt_load: torch.load of a state dict out of the store",
          "list": "list: keys under one prefix",
          "model_load": "model_load: time until every tensor is loaded"}


def section_name(scenario: str, variant: str = "local") -> str:
    """The name of a scenario's plot and docs section: the scenario, with
    the variant appended unless it is the plain local one."""
    return scenario if variant == "local" else f"{scenario}_{variant}"


def rec_section(r: dict) -> str:
    return section_name(r["scenario"], r.get("variant", "local"))


def title(name: str) -> str:
    base = name.removesuffix("_cloud")
    return TITLES.get(base, base) + (" (cloud-like: +5 ms first byte, 1 Gbit/s per "
                                     "connection)" if name.endswith("_cloud") else "")


def to_records(scenario: str, res: dict, server: str, variant: str = "local") -> list[dict]:
    out = []
    n = res["nbytes"]
    series = res["series"]
    ceiling = None
    for ref in ("curl", "raw_http"):
        if ref in series and series[ref].seconds:
            ceiling = n / series[ref].median() / (1e9 if res["unit"] == "GB/s" else 1)
    for k, s in series.items():
        if not s.seconds:
            continue
        rates = [n / t / (1e9 if res["unit"] == "GB/s" else 1) for t in s.seconds]
        rec = {"scenario": scenario, "client": s.client, "server": server, "variant": variant,
               "median": statistics.median(rates), "min": min(rates), "max": max(rates),
               "unit": res["unit"], "ceiling": ceiling, "method": s.method, "key": k,
               "runs": len(s.seconds), "peak_rss_bytes": s.med("rss"),
               "cpu_s": s.med("cpu"), "cpu_s_per_gib": s.med("cpu_per_gib")}
        if s.med("MB_per_s"):
            rec["MB_per_s"] = s.med("MB_per_s")
        out.append(rec)
    return out


def table(records: list[dict], series: dict, markdown: bool) -> str:
    ours = {}   # per scenario: ours' best median (several ways of ours in some scenarios)
    for r in records:
        if r["client"] == "ours":
            ours[r["scenario"]] = max(ours.get(r["scenario"], 0), r["median"])
    head = ["client", "method", "median", "min", "max", "unit", "÷ ceiling", "ours ÷ this",
            "peak RSS GiB", "CPU s/GiB"]
    rows = []
    for r in records:
        ceil = r["ceiling"]
        o = ours.get(r["scenario"])
        rows.append([r["client"] + ("" if r["key"] in (r["client"],) else f" ({r['key']})"),
                     r["method"], f"{r['median']:,.2f}" if r["unit"] == "GB/s"
                     else f"{r['median']:,.0f}",
                     f"{r['min']:,.2f}" if r["unit"] == "GB/s" else f"{r['min']:,.0f}",
                     f"{r['max']:,.2f}" if r["unit"] == "GB/s" else f"{r['max']:,.0f}",
                     r["unit"], f"{r['median'] / ceil:.2f}" if ceil else "-",
                     f"{o / r['median']:.2f}" if o else "-",
                     f"{r['peak_rss_bytes'] / GiB:.2f}" if r.get("peak_rss_bytes") else "",
                     f"{r['cpu_s_per_gib']:.2f}" if r.get("cpu_s_per_gib") else ""])
    for k, s in series.items():
        if not s.seconds:
            rows.append([f"{s.client} ({k})", s.method, "failed", "", "", "", "", "", "",
                         "; ".join(dict.fromkeys(e[:200] for e in s.errors))])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    w = [max(len(h), *(len(r[i][:70]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:{'<' if i < 2 else '>'}{x}}}" for i, x in enumerate(w))
    return "\n".join([fmt.format(*head)] + [fmt.format(*(c[:70] for c in r)) for r in rows])


def plot(records: list[dict], scenario: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in records if rec_section(r) == scenario]
    if not recs:
        return
    labels = [r["client"] if r["key"] == r["client"] else f"{r['client']}\n({r['key']})"
              for r in recs]
    med = [r["median"] for r in recs]
    lo = [r["median"] - r["min"] for r in recs]
    hi = [r["max"] - r["median"] for r in recs]
    colors = ["tab:green" if r["client"] == "ours" else
              "tab:gray" if r["client"] in ("curl", "local_disk", "raw_http") else "tab:blue"
              for r in recs]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(recs) + 1.6))
    y = range(len(recs))
    ax.barh(y, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    unit = recs[0]["unit"]
    ax.set_xlabel(f"{unit} (median of runs, bars: min-max)"
                  + ("; lower is better" if unit == "s" else "; higher is better"))
    ax.set_title(title, fontsize=10)
    for i, (m, r) in enumerate(zip(med, recs)):
        ax.text(r["max"], i, f"  {m:,.2f}" if unit != "keys/s" else f"  {m:,.0f}",
                va="center", fontsize=7)
    by_key = {r["key"]: r["median"] for r in recs}
    if scenario == "model_load" and "local_disk" in by_key and "curl" in by_key:
        fw = by_key["local_disk"] + by_key["curl"]
        ax.axvline(fw, color="black", ls="--", lw=1, label=f"floor + wire {fw:.2f} s")
        ax.axvline(1.3 * fw, color="red", ls=":", lw=1, label=f"target 1.3 x {1.3 * fw:.2f} s")
        if "curl_ram" in by_key:
            flw = by_key["local_disk"] + by_key["curl_ram"]
            ax.axvline(flw, color="grey", ls="-.", lw=1,
                       label=f"floor + wire into memory {flw:.2f} s")
        ax.legend(fontsize=7, loc="lower right")
    elif recs[0].get("ceiling"):
        ax.axvline(recs[0]["ceiling"], color="black", ls="--", lw=1,
                   label="server ceiling (median)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge_results(path: Path, new: list[dict], scenarios: set[str]) -> list[dict]:
    old = []
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = []
    keep = [r for r in old if rec_section(r) not in scenarios]
    out = keep + new
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1) + "\n")
    return out


def machine(server_version: str, peer_py: str) -> dict:
    import ossconnector

    from infra.peers import package_version

    return {**machine_basics(), "server": server_version,
            "ossconnector": ossconnector.__version__,
            "osstorchconnector (product)": package_version(peer_py, "osstorchconnector"),
            "s3torchconnector": package_version(peer_py, "s3torchconnector"),
            "oss2": package_version(sys.executable, "oss2"),
            "boto3": package_version(sys.executable, "boto3")}


def section(scenario: str, m: dict, command: str, text_table: str, runs: int,
            what: str, notes: list[str]) -> str:
    clients = "" if scenario == "servers" else (
        f"; ossconnector {m['ossconnector']}, osstorchconnector (product) "
        f"{m['osstorchconnector (product)']}, s3torchconnector {m['s3torchconnector']}, "
        f"oss2 {m['oss2']}, boto3 {m['boto3']}")
    rounds_ = ("(the servers take turns in every round)" if scenario == "servers" else
               "(every client once per round, in a fresh process)")
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {m['cores']} cores ({m['cpu']}), "
             f"{m['memory_GiB']} GiB RAM, {m['os']}, kernel {m['kernel']}; server {m['server']} "
             f"on 127.0.0.1{clients}; Python {m['python']}. Load average at "
             f"start: {m['load_average_at_start']}.", "", what + f" Median of {runs} rounds "
             f"{rounds_}, min and max beside it.", "",
             "```", command, "```", "", text_table, "", f"![{scenario}](benchmarks/{scenario}.png)"]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


RESOURCE_SCENARIOS = ("big_read", "ckpt_save", "ckpt_load", "model_load")


def resources_table(records: list[dict]) -> str:
    """Scenario (g): peak RSS and CPU seconds per GiB of every client in the
    scenarios that move GiBs, from the results file (each row as measured
    in its scenario's last run)."""
    lines = ["| scenario | client | method | peak RSS GiB | CPU s/GiB | server |",
             "|---|---|---|---:|---:|---|"]
    for r in records:
        if r["scenario"] not in RESOURCE_SCENARIOS or not r.get("peak_rss_bytes"):
            continue
        client = r["client"] if r["key"] == r["client"] else f"{r['client']} ({r['key']})"
        cpu = f"{r['cpu_s_per_gib']:.2f}" if r.get("cpu_s_per_gib") else "-"
        lines.append(f"| {r['scenario']} | {client} | {r['method']} | "
                     f"{r['peak_rss_bytes'] / GiB:.2f} | {cpu} | {r['server']} |")
    return "\n".join(lines)
