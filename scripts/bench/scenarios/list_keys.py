"""Scenario list: every key under one prefix (default 100,000 keys).

Clients: ours (``Client.list``, and ``fast=True``), oss2
(``ObjectIteratorV2``), boto3 (paginator), the product's binary
(``OssClient.list_objects``).  One untimed listing, then one timed, per fresh
process (client_worker.py); the number of distinct keys is checked.  The
ceiling is :func:`raw_list`, in this process.
"""

from __future__ import annotations

import time
from pathlib import Path

from infra.data import make_list_keys
from infra.peers import Series
from infra.worker_env import BUCKET, Env, rounds

LIST_CLIENTS = {
    "ours": ("ours", False, "Client.list(uri): ListObjectsV2 pages of 1,000 in turn"),
    "ours_fast": ("ours", False, "Client.list(uri, fast=True): key space listed concurrently"),
    "oss2": ("oss2", False, "ObjectIteratorV2(max_keys=1000)"),
    "boto3": ("boto3", False, "list_objects_v2 paginator, PageSize 1000"),
    "osstorchconnector": ("osstorchconnector", True, "product binary: OssClient.list_objects"),
}


def prepare(root: Path, count: int) -> str:
    """The keys written into ``root/<bucket>`` (once); their prefix."""
    return make_list_keys(root, BUCKET, count)


def what(args) -> str:
    return f"Listing {args.keys:,} keys under one prefix (count and distinctness checked)."


def raw_list(endpoint: str, prefix: str) -> int:
    """Lists like the cheapest possible client: one keep-alive connection,
    ListObjectsV2 pages of 1,000 in turn, keys counted with a regex (the
    server's ceiling for a sequential listing)."""
    import http.client
    import re
    from urllib.parse import quote, urlsplit

    u = urlsplit(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    token, count = "", 0
    key_re, tok_re = re.compile(rb"<Key>"), re.compile(rb"<NextContinuationToken>([^<]*)<")
    while True:
        q = f"/{BUCKET}/?list-type=2&max-keys=1000&prefix={quote(prefix, safe='')}"
        if token:
            q += f"&continuation-token={quote(token, safe='')}"
        conn.request("GET", q)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"list: HTTP {r.status}")
        count += len(key_re.findall(body))
        m = tok_re.search(body)
        if not m:
            conn.close()
            return count
        token = m.group(1).decode()


def run(env: Env, args, prefix: str, count: int) -> dict:
    """Every client of ``LIST_CLIENTS`` (those of ``--clients``) and the raw
    HTTP ceiling once per round, ``args.runs`` rounds; {"series", "nbytes",
    "unit"} with ``nbytes`` the number of keys."""
    series = {"raw_http": Series("raw_http", "raw_http", "one keep-alive connection, "
                                 "ListObjectsV2 pages in turn, keys counted by regex "
                                 "(sequential-listing ceiling)")}
    for name, (client, _, method) in LIST_CLIENTS.items():
        if name in args.clients or not args.clients:
            series[name] = Series(name, client, method)

    def one(name, label):
        s = series[name]
        if name == "raw_http":
            raw_list(env.server.endpoint, prefix)   # warm-up
            t0 = time.perf_counter()
            n = raw_list(env.server.endpoint, prefix)
            t = time.perf_counter() - t0
            if n != count:
                s.errors.append(f"listed {n} keys, expected {count}")
                return
            s.add(t)
            print(f"{label} {name:20s} {t:6.2f} s, {count / t:9,.0f} keys/s", flush=True)
            return
        spec = {**env.base_spec(), "scenario": "list", "client": name, "prefix": prefix,
                "count": count, "reads": 1}
        res = env.run_worker_for(s, label, spec, LIST_CLIENTS[name][1], args.timeout)
        if res is None:
            return
        t = res["seconds"][0]
        s.add(t, rss=res["rss"], cpu=res["cpu"])
        print(f"{label} {name:20s} {t:6.2f} s, {count / t:9,.0f} keys/s", flush=True)

    rounds("round", list(series), args.runs, one)
    return {"series": series, "nbytes": count, "unit": "keys/s"}
