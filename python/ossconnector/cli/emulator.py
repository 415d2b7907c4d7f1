"""``ossc emulator [options]``: run the local OSS emulator in the foreground.

The same server as ``python -m ossconnector.emulator`` (options: --host,
--port, --access-key-id, --access-key-secret, --bucket, --domain,
--max-skew, --quiet, ...; see docs/emulator.md).  It prints
``ossemu listening on http://HOST:PORT`` and serves until Ctrl-C or
SIGTERM.  Point the other commands at it with
``--endpoint http://HOST:PORT`` and the same access key, e.g.::

    ossc emulator --port 9000 --access-key-id AK --access-key-secret SK --bucket demo &
    export OSS_ENDPOINT=http://127.0.0.1:9000 OSS_ACCESS_KEY_ID=AK OSS_ACCESS_KEY_SECRET=SK
    ossc cp -r ./model oss://demo/model/

Needs the emulator's extra packages: pip install 'ossconnector[emulator]'.
"""

from __future__ import annotations

import argparse

from ._common import CommandError, describe

NAME = "emulator"
HELP = "run the local OSS emulator (for trying things out and tests)"


def add_parser(sub, parents):
    # Listed in `ossc --help`; main() hands everything after the word
    # `emulator` to run_argv, so the emulator's own parser (and --help) apply.
    p = sub.add_parser(NAME, help=HELP, description=describe(__doc__), add_help=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(func=lambda args: run_argv([]))
    return p


def run_argv(argv) -> int:
    try:
        import moto  # noqa: F401
        import werkzeug  # noqa: F401
    except ImportError as exc:
        raise CommandError(f"the emulator needs packages that are not installed ({exc.name}): "
                           "pip install 'ossconnector[emulator]'") from None
    from ..emulator import __main__ as emulator_main

    argv = list(argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if "-h" in argv or "--help" in argv:
        print(describe(__doc__) + "\n")
    return emulator_main.main(argv)
