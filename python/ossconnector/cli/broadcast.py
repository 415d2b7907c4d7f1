"""``ossc broadcast status oss://bucket/model/``: the nodes that broadcast
a model to each other, as the Redis registry knows them.

For every version of the model with live nodes: the chain(s), drawn as
``OSS -> a -> b -> c``, and one row per node in join order: its seq, id,
advertised address, upstream (or OSS), bytes received from OSS and from
peers, bytes forwarded, files done of the model's, and whether it is
complete.  ``--json`` prints the registry's view as JSON instead.

The registry is --redis URL, else $OSSC_BROADCAST_REDIS, else the
``broadcast.redis`` key of the config file.
"""

from __future__ import annotations

import argparse
import json
from typing import Dict, List

from ._broadcast import DEFAULT_TIMEOUT_MS, redis_setting, status
from ._common import UsageError, describe, positive_int
from ._progress import human_bytes

NAME = "broadcast"
HELP = "show the nodes broadcasting a model (the Redis registry)"


def add_parser(sub, parents):
    p = sub.add_parser(NAME, parents=parents, help=HELP, description=describe(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="broadcast_command", metavar="ACTION")
    s = actions.add_parser("status", parents=parents, help="the chain and each node's progress",
                           description=describe(__doc__),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("uri", metavar="URI", help="the model, oss://bucket/prefix/ (its OSS_PATH)")
    s.add_argument("--redis", metavar="URL",
                   help="redis://[[user]:password@]host[:port][/db] (default: "
                        "$OSSC_BROADCAST_REDIS, else broadcast.redis in the config file)")
    s.add_argument("--json", action="store_true", help="print the registry's view as JSON")
    s.add_argument("--timeout-ms", type=positive_int, default=DEFAULT_TIMEOUT_MS,
                   metavar="MS", help="connect and reply timeout (default: %(default)s)")
    s.set_defaults(func=run_status)
    p.set_defaults(func=lambda args: _no_action(p))
    return p


def _no_action(parser) -> int:
    raise UsageError("which action? (ossc broadcast status oss://bucket/model/)")


def run_status(args) -> int:
    if not args.uri.startswith("oss://"):
        raise UsageError(f"{args.uri!r} is not an oss:// path (e.g. oss://bucket/model/)")
    url, source = redis_setting(args.redis, getattr(args, "config", None))
    if url is None:
        raise UsageError(f"no Redis registry to ask ({source}): give --redis "
                         "redis://host:port[/db] or set $OSSC_BROADCAST_REDIS")
    view = status(url, args.uri, args.timeout_ms)
    if args.json:
        print(json.dumps(view, indent=2))
        return 0
    print(render(view))
    return 0


# -- rendering --------------------------------------------------------------------

_COLUMNS = ("SEQ", "NODE", "ADDRESS", "UPSTREAM", "FROM OSS", "FROM PEERS", "FORWARDED",
            "FILES", "COMPLETE")


def shown(value, limit: int = 128) -> str:
    """A registry field for the terminal: whatever a Redis client wrote
    there, non-printable characters (escape sequences, newlines) as '?',
    at most limit characters."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def render(view: dict) -> str:
    """The registry's view as text: per version, its chains and a table."""
    versions = view.get("versions", [])
    where = view.get("redis", "")
    if not versions:
        return f"{view.get('oss_path', '')}: no live broadcasting node in the registry " \
               f"({where})"
    out: List[str] = []
    for v in versions:
        nodes = v.get("nodes", [])
        out.append(f"{v.get('oss_path') or view.get('oss_path')}  version {v['vid']}  "
                   f"({v.get('nfiles', 0)} files, {human_bytes(v.get('total', 0))}; "
                   f"{len(nodes)} node(s); registry {where})")
        for line in chains(nodes):
            out.append("  " + line)
        out.append("")
        out.extend("  " + row for row in _table(v.get("nfiles", 0), nodes))
        out.append("")
    return "\n".join(out).rstrip()


def _table(nfiles: int, nodes: List[dict]) -> List[str]:
    rows = [_COLUMNS]
    for n in nodes:
        rows.append((shown(n.get("seq", "")), shown(n.get("id", "")), shown(n.get("addr", "")),
                     shown(n.get("upstream")) or "OSS", human_bytes(n.get("recv_oss", 0)),
                     human_bytes(n.get("recv_peer", 0)), human_bytes(n.get("forwarded", 0)),
                     f"{n.get('files_done', 0)}/{nfiles}",
                     "yes" if n.get("complete") else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    right = {0, 4, 5, 6, 7}  # numbers
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w)
                      for i, (c, w) in enumerate(zip(r, widths))).rstrip() for r in rows]


def chains(nodes: List[dict]) -> List[str]:
    """Every path from a source to a chain's end, as 'OSS -> a -> b'.  A node
    whose upstream is not a live node hangs off '? host:port'."""
    by_addr: Dict[str, dict] = {n.get("addr", ""): n for n in nodes}
    children: Dict[str, List[dict]] = {}
    roots: List[tuple] = []
    for n in nodes:
        up = n.get("upstream") or ""
        if not up:
            roots.append(("OSS", n))
        elif up not in by_addr or up == n.get("addr"):
            roots.append((f"? {shown(up)}", n))
        else:
            children.setdefault(up, []).append(n)
    lines: List[str] = []
    drawn = set()

    def walk(head: str, first: dict) -> None:
        # Depth first without recursion: a chain of thousands of nodes is
        # one path, not thousands of nested calls.
        stack = [([head], first)]
        while stack:
            path, n = stack.pop()
            drawn.add(n.get("id"))
            path = path + [shown(n.get("id", "?"))]
            kids = [k for k in children.get(n.get("addr", ""), []) if k.get("id") not in drawn]
            if not kids:
                lines.append(" -> ".join(path))
            stack.extend((path, k) for k in reversed(kids))

    for head, n in roots:
        walk(head, n)
    for n in nodes:  # in a loop of upstreams (a moment of relinking): shown apart
        if n.get("id") not in drawn:
            walk(f"? {shown(n.get('upstream'))}", n)
    return lines
