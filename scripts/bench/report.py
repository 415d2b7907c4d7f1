"""Benchmark results: statistics, machine description, console table, JSON
and a Markdown section kept between two markers in a document."""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

__all__ = ["Result", "machine_description", "ratios", "format_table", "to_json",
           "replace_section"]


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
    """What engine_get.py's numbers were measured on."""
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
