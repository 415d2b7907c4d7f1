#!/usr/bin/env python3
"""The benchmark command line: every scenario, every peer side by side on
local servers, results as JSON, Markdown and PNG plots.

    python3 scripts/bench/run.py --help                     # every scenario
    python3 scripts/bench/run.py --scenario all             # what `make bench` runs
    python3 scripts/bench/run.py --scenario big_read --runs 5
    python3 scripts/bench/run.py --scenario list --keys 100000
    python3 scripts/bench/run.py --scenario model_load --size-gib 4
    python3 scripts/bench/run.py --scenario small_objects --objects 20000
    python3 scripts/bench/run.py --scenario ckpt --ckpt-gib 2 --runs 3
    python3 scripts/bench/run.py --scenario servers         # the servers' GET ceilings
    python3 scripts/bench/run.py --scenario all --quick     # smoke run (small sizes, 1 run)
    python3 scripts/bench/run.py --scenario engine_get --quick   # its own options: add --help
    python3 scripts/bench/run.py --scenario broadcast --size-gib 1 --markdown

Layout: one module per scenario in ``scenarios/`` (with its worker, the
program each client runs in a fresh process), what they run on in
``infra/`` (servers, data, delay proxy, s3fs mount, peers' venv, worker
environment), and every table, plot, machine description and the results
file in ``report.py``.

Two kinds of scenario:

* **full-API server scenarios** (big_read, list, small_objects, tar_epoch,
  ckpt, model_load, servers) take the options below.  Every client runs
  once per round, rounds repeat ``--runs`` times (so noise from other work
  hits every client alike), and the median with min and max is reported.
  The server is localbucket (PyPI) behind our OSS adapter
  (``infra/localbucket_oss.py``); ``--server seaweedfs`` uses a SeaweedFS S3
  gateway (objects uploaded first); ckpt always runs on SeaweedFS.  The
  product's binary, s3torchconnector and Run:ai run in a separate venv
  (``--peer-venv``, created on first use).  Results:
  ``docs/benchmarks/results.json`` (records ``{"scenario", "client",
  "server", "median", "min", "max", "unit", "ceiling", ...}``, see report.py;
  records of scenarios not run this time are kept),
  ``docs/benchmarks/<scenario>.png``, and with ``--markdown`` the sections
  of docs/benchmarks.md between ``<!-- <scenario>:start -->`` and ``:end
  -->`` (and peak RSS and CPU s/GiB of every client, between ``<!--
  resources:start -->`` and ``:end -->``).
* **standalone scenarios** (engine_get, datasets_nginx, ckpt_seaweedfs,
  model_connector, broadcast, relay_cost) set up their own server and take their own options
  (``run.py --scenario NAME --help``); they write their own section of
  docs/benchmarks.md with ``--markdown`` and their own JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from infra import DOC, REPO, RESULTS_DIR  # noqa: E402
from infra.peers import DEFAULT_VENV, ensure_peer_venv  # noqa: E402
from infra.worker_env import (BUCKET, DOMAIN, MOUNT_SCENARIOS, Env, front_of,  # noqa: E402
                              make_server, maybe_mount, upload_tree, variant_notes)
from report import (machine, merge_results, plot, rec_section, resources_table,  # noqa: E402
                    section, section_name, table, title, to_records)

# Full-API server scenarios: name -> what it measures (run.py's options).
SCENARIOS = {
    "big_read": "one object (default 1 GiB) read whole into a buffer, every client "
                "(scenarios/big_read.py)",
    "small_objects": "a DataLoader epoch over --objects small objects "
                     "(scenarios/dataloader_epoch.py)",
    "tar_epoch": "a DataLoader epoch over one indexed tar of the same objects "
                 "(scenarios/dataloader_epoch.py)",
    "ckpt": "torch.save / torch.load of a state dict, records ckpt_save and ckpt_load "
            "(scenarios/ckpt.py)",
    "list": "every key under one prefix (default 100,000) (scenarios/list_keys.py)",
    "model_load": "a sharded safetensors model loaded every way (scenarios/model_load.py)",
}
EXTRA_SCENARIOS = {   # not part of "all"
    "servers": "the GET ceiling of nginx, localbucket and SeaweedFS "
               "(scenarios/server_ceilings.py)",
}
# Standalone scenarios: name -> (module under scenarios/, what it measures); their own options.
STANDALONE = {
    "engine_get": ("engine_get", "GET throughput of the engine vs oss2 vs curl on nginx, "
                                 "in one process"),
    "datasets_nginx": ("dataloader_epoch", "DataLoader epochs, every peer, on nginx "
                                           "(GET and HEAD only)"),
    "ckpt_seaweedfs": ("ckpt", "checkpoint save/load, every client, on SeaweedFS, with its "
                               "own section"),
    "model_connector": ("model_connector", "OssModelConnector listing and from_pretrained "
                                           "after prepare_directory"),
    "fill_cpu": ("fill_cpu", "CPU per GiB landed through the LD_PRELOAD node cache vs curl "
                             "into /dev/shm, and exit time vs the floor"),
    "broadcast": ("broadcast", "4 nodes load one model: broadcast chain vs each from OSS vs "
                               "one alone, egress limited and not (issue 16)"),
    "relay_cost": ("relay_cost", "what serving a chunk over loopback costs the sending node "
                                 "(sender and receiver CPU per GiB; issue 16)"),
}
RECORD_NAMES = {"ckpt": ["ckpt_save", "ckpt_load"]}   # option -> its records' scenarios
# --variant cloud: the scenarios that may run through the delay proxy, and those of "all"
CLOUD_SCENARIOS, CLOUD_ALL = ["big_read", "small_objects", "tar_epoch", "list"], \
    ["big_read", "small_objects"]


def run_standalone(name: str, argv: list[str]) -> int:
    """Runs a standalone scenario with its own options; the command it
    records is this one."""
    module = importlib.import_module(f"scenarios.{STANDALONE[name][0]}")
    command = shlex.join(["python3", "scripts/bench/run.py", "--scenario", name, *argv])
    return module.main(argv, command=command)


# ------------------------------------------------------------------ one server, many scenarios

def prepare_data(args, others: list[str], root: Path, peer_py: str) -> dict:
    """Writes what the scenarios read into ``root/<bucket>`` (kept with
    --workdir while the sizes match): {"prefix", "datasets"}."""
    from scenarios import big_read, dataloader_epoch, list_keys

    out = {"prefix": "", "datasets": None}
    if "big_read" in others:
        big_read.prepare(root, args.size_mib)
    if "list" in others:
        out["prefix"] = list_keys.prepare(root, args.keys)
    if {"small_objects", "tar_epoch"} & set(others):
        out["datasets"] = dataloader_epoch.prepare_cached(root, args.objects,
                                                          args.object_kib << 10, peer_py)
    return out


def run_scenario(sc: str, env: Env, args, root: Path, data: dict) -> list[tuple]:
    """Runs one scenario option; [(records' scenario, res, what, notes)]
    (the ckpt option gives two)."""
    from scenarios import big_read, ckpt, dataloader_epoch, list_keys

    if sc == "big_read":
        return [(sc, big_read.run(env, args, root), big_read.what(args), [])]
    if sc == "list":
        return [(sc, list_keys.run(env, args, data["prefix"], args.keys), list_keys.what(args),
                 [])]
    if sc in ("small_objects", "tar_epoch"):
        spec = data["datasets"]
        return [(sc, dataloader_epoch.scenario(env, args, spec, sc, env.mount),
                 dataloader_epoch.what(spec, sc), dataloader_epoch.notes(spec))]
    res = ckpt.scenario(env, args)
    what = ckpt.what(args, res["ckpt_save"]["nbytes"])
    failed = [k for k, s in res["ckpt_save"]["series"].items() if s.errors]
    notes = [f"{k} failed{ckpt.KNOWN_FAILURES.get(k, '')}" for k in failed]
    return [(name, r, what, notes) for name, r in res.items()]


def server_groups(args, others: list[str]) -> dict[str, list[str]]:
    """Which server each scenario runs on: ``--server``, but ckpt always on
    SeaweedFS (the clients' multipart uploads fail on localbucket)."""
    groups: dict[str, list[str]] = {}
    for sc in others:
        groups.setdefault("seaweedfs" if sc == "ckpt" else args.server, []).append(sc)
    return groups


def server_scenarios(args, others: list[str], command: str, kind: str) -> list[dict]:
    """Scenarios run on one full-API server of ``kind`` (all but model_load
    and servers): data, server, /etc/hosts, rounds, records, and with
    --markdown their sections of docs/benchmarks.md."""
    from infra.servers import HostsEntry

    peer_py = ensure_peer_venv(args.peer_venv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-run-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / "buckets"
    records = []
    try:
        data = prepare_data(args, others, root, peer_py)
        server = make_server(kind, root)
        with server, HostsEntry(f"{BUCKET}.{DOMAIN}", DOMAIN):
            if kind != "localbucket":
                server.create_bucket(BUCKET)
                if set(others) - {"ckpt"}:
                    upload_tree(server, root)
            with front_of(server, args.variant) as front, \
                    maybe_mount(args, others, front, work) as mount:
                env = Env(front, work, peer_py, mount and str(mount.path))
                mach = machine(front.version(), peer_py)
                mach["s3fs"] = mount.version() if mount else "not mounted"
                print(json.dumps(mach), flush=True)
                for sc in others:
                    for name, res, what, notes in run_scenario(sc, env, args, root, data):
                        recs = to_records(name, res, front.version(), args.variant)
                        records += recs
                        publish(section_name(name, args.variant), recs, res, mach, command,
                                what, notes + variant_notes(args.variant), args)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return records


def publish(name: str, recs: list[dict], res: dict, mach: dict, command: str, what: str,
            notes: list[str], args) -> None:
    """Prints a scenario's table; with --markdown (not --quick) writes its
    section of docs/benchmarks.md."""
    print(table(recs, res["series"], markdown=False), flush=True)
    if args.markdown and not args.quick:
        from report import replace_section

        replace_section(DOC, f"<!-- {name}:start -->", f"<!-- {name}:end -->",
                        section(name, mach, command, table(recs, res["series"], True),
                                args.runs, what, notes), "Benchmarks")


# ------------------------------------------------------------------ main

def scenario_list() -> str:
    """The scenarios, for --help."""
    lines = ["scenarios on a full-API server (the options above; 'all' runs the first six):"]
    lines += [f"  {k:16s}{v}" for k, v in {**SCENARIOS, **EXTRA_SCENARIOS}.items()]
    lines += ["standalone scenarios (their own server and options: run.py --scenario NAME "
              "--help):"]
    lines += [f"  {k:16s}{v} (scenarios/{m}.py)" for k, (m, v) in STANDALONE.items()]
    return "\n".join(lines)


def standalone_argv(argv: list[str]) -> tuple[str, list[str]] | None:
    """(scenario, its own options) when ``argv`` names a standalone
    scenario (``--scenario NAME`` or ``--scenario=NAME``), else None."""
    for i, a in enumerate(argv):
        if a == "--scenario" and i + 1 < len(argv) and argv[i + 1] in STANDALONE:
            return argv[i + 1], argv[:i] + argv[i + 2:]
        if a.startswith("--scenario=") and a.split("=", 1)[1] in STANDALONE:
            return a.split("=", 1)[1], argv[:i] + argv[i + 1:]
    return None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=scenario_list(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="all",
                   choices=[*SCENARIOS, *EXTRA_SCENARIOS, "all", *STANDALONE],
                   help="one scenario (listed below), or all of the first group")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--size-mib", type=int, default=1024, help="big_read object size")
    p.add_argument("--keys", type=int, default=100_000, help="list: number of keys")
    p.add_argument("--size-gib", type=float, default=4.0, help="model_load model size")
    p.add_argument("--model-runs", type=int, default=3, help="model_load rounds")
    p.add_argument("--objects", type=int, default=20_000,
                   help="small_objects/tar_epoch: number of objects")
    p.add_argument("--object-kib", type=int, default=100, help="small_objects: object size")
    p.add_argument("--ckpt-gib", type=float, default=2.0, help="ckpt: state dict size")
    p.add_argument("--clients", default="",
                   help="comma-separated subset of client names (big_read, list, ...)")
    p.add_argument("--server", choices=["localbucket", "seaweedfs"], default="localbucket")
    p.add_argument("--variant", choices=["local", "cloud"], default="local",
                   help="cloud: through infra/delay_proxy.py (+5 ms first byte, 1 Gbit/s per "
                        "connection); big_read and small_objects (tar_epoch, list on request)")
    p.add_argument("--no-s3fs", action="store_true",
                   help="leave out the s3fs_fuse client (no FUSE mount)")
    p.add_argument("--peer-venv", default=DEFAULT_VENV)
    p.add_argument("--workdir", help="keep data here between runs (default: temporary)")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--quick", action="store_true",
                   help="64 MiB, 5,000 keys, 2,000 objects, 256 MiB state dict, 512 MiB "
                        "model, 1 run, results not written to docs/ unless --results is given")
    p.add_argument("--results", help="results.json path (default docs/benchmarks/results.json)")
    p.add_argument("--markdown", action="store_true",
                   help="also rewrite the scenarios' sections of docs/benchmarks.md")
    p.add_argument("--replot", action="store_true",
                   help="only redraw the PNGs from the results file, run nothing")
    a = p.parse_args(argv)
    if a.quick:
        a.runs, a.model_runs, a.size_mib, a.keys, a.size_gib = 1, 1, 64, 5000, 0.5
        a.objects, a.ckpt_gib = 2000, 0.25
    a.clients = [c for c in a.clients.split(",") if c]
    return a


def main(argv=None) -> int:
    own = standalone_argv(sys.argv[1:] if argv is None else list(argv))
    if own:
        return run_standalone(*own)
    args = parse_args(argv)
    argv_ = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python3", os.path.relpath(__file__, REPO), *argv_])
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    scenarios = [s for s in [*SCENARIOS, *EXTRA_SCENARIOS] if s in scenarios]   # in this order
    if args.variant == "cloud":
        allowed = CLOUD_ALL if args.scenario == "all" else CLOUD_SCENARIOS
        if not set(scenarios) & set(allowed):
            sys.exit(f"--variant cloud runs {', '.join(CLOUD_SCENARIOS)} only")
        scenarios = [s for s in scenarios if s in allowed]
    results_path = Path(args.results) if args.results else (
        None if args.quick else RESULTS_DIR / "results.json")
    plots_dir = results_path.parent if results_path else None
    if args.replot:
        recs = json.loads((results_path or RESULTS_DIR / "results.json").read_text())
        for sc in dict.fromkeys(rec_section(r) for r in recs):
            plot(recs, sc, (plots_dir or RESULTS_DIR) / f"{sc}.png", title(sc))
        return 0
    from infra.servers import ensure_pip

    for module, package in (("matplotlib", "matplotlib"), ("oss2", "oss2"), ("boto3", "boto3"),
                            ("safetensors", "safetensors"), ("crcmod", "crcmod")):
        ensure_pip(module, package)
    all_records: list[dict] = []
    done: set[str] = set()
    if os.getloadavg()[0] > 0.5:
        print(f"warning: load average {os.getloadavg()} at the start: other work on this "
              "machine lowers and scatters the numbers", file=sys.stderr)

    if "model_load" in scenarios:
        from scenarios import model_load

        ml_argv = ["--size-gib", str(args.size_gib), "--runs", str(args.model_runs),
                   "--server", args.server, "--peer-venv", args.peer_venv]
        if args.workdir:
            ml_argv += ["--workdir", str(Path(args.workdir) / "model_load")]
        ml_args = model_load.parse_args(ml_argv)
        doc = model_load.run(ml_args, command + "  # scenario model_load")
        print(model_load.format_table(doc["rows"], markdown=False))
        print(json.dumps(doc["summary"], indent=1))
        all_records += doc["records"]
        done.add("model_load")
        if args.markdown and not args.quick:
            from report import replace_section

            replace_section(DOC, model_load.MARK_START, model_load.MARK_END,
                            model_load.markdown_section(doc, doc["rows"], doc["summary"]),
                            "Benchmarks")

    if "servers" in scenarios:
        from scenarios import server_ceilings

        work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-run-"))
        try:
            res = server_ceilings.run(args, work)
        finally:
            if not args.workdir:
                shutil.rmtree(work, ignore_errors=True)
        recs = to_records("servers", res, "")
        for r in recs:
            r["server"] = r["key"]
            r["ceiling"] = None
        all_records += recs
        done.add("servers")
        print(table(recs, res["series"], markdown=False), flush=True)
        if args.markdown and not args.quick:
            from report import replace_section

            mach = machine("nginx, localbucket + OSS adapter, SeaweedFS", sys.executable)
            replace_section(DOC, "<!-- servers:start -->", "<!-- servers:end -->",
                            section("servers", mach, command, table(recs, res["series"], True),
                                    args.runs, server_ceilings.what(args), []),
                            "Benchmarks")

    others = [s for s in scenarios if s not in ("model_load", "servers")]
    if others:
        for kind, group in server_groups(args, others).items():
            all_records += server_scenarios(args, group, command, kind)
        done.update(section_name(n, args.variant) for sc in others
                    for n in RECORD_NAMES.get(sc, [sc]))

    if results_path:
        merged = merge_results(results_path, all_records, done)
        for sc in done:
            plot(merged, sc, plots_dir / f"{sc}.png", title(sc))
        print(f"wrote {results_path} and plots in {plots_dir}")
        if args.markdown and not args.quick:
            from report import replace_section

            replace_section(DOC, "<!-- resources:start -->", "<!-- resources:end -->",
                            resources_table(merged), "Benchmarks")
    return 0


if __name__ == "__main__":
    from infra import run_main

    run_main(main)
