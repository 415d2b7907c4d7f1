"""``ossc``: the command line of ossconnector.

``main(argv)`` parses, runs one command and returns the exit status (it
never calls ``sys.exit`` itself, so tests can call it):

====  ==========================================================
0     everything asked for was done
1     an operation failed: not found, access denied, unreachable,
      some transfers of a copy failed, a doctor check failed
2     the command line is wrong (unknown option, missing argument,
      a local path where an oss:// URI is needed, no endpoint)
130   interrupted (Ctrl-C)
====  ==========================================================

One module per command (``ls``, ``cp``, ``rm``, ``sync``, ``stat``, ``prepare``, ``doctor``,
``emulator``, ``tar``, ``broadcast``), each with ``add_parser(subparsers, parents)`` and
``run(args)``.  See docs/cli.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

from ._common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    UsageError,
    add_global_options,
    explain,
)

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED"]

_GLOBAL_WITH_VALUE = ("--endpoint", "--region", "--cred-path", "--config")


def _commands():
    from . import broadcast, cp, doctor, emulator, ls, prepare, rm, stat, sync, tar

    return [ls, cp, rm, sync, stat, prepare, doctor, emulator, tar, broadcast]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="ossc",
        description="Copy, list and prepare data in Alibaba Cloud OSS with the ossconnector "
                    "engine, and check a setup.",
        epilog="Exit status: 0 done, 1 an operation failed, 2 usage error, 130 interrupted.  "
               "`ossc COMMAND --help` describes each command; docs/cli.md has examples.")
    parser.add_argument("--version", action="version",
                        version=f"ossc (ossconnector) {__version__}")
    add_global_options(parser, in_subcommand=False)
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common, in_subcommand=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _commands():
        module.add_parser(sub, [common])
    return parser


def _command_word(argv: Sequence[str]) -> int:
    """Index of the command word in argv, or -1 (global options skipped)."""
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in _GLOBAL_WITH_VALUE:
            i += 2
        elif token.split("=", 1)[0] in _GLOBAL_WITH_VALUE:
            i += 1
        elif token.startswith("-"):
            return -1
        else:
            return i
    return -1


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``ossc`` with argv (default ``sys.argv[1:]``); returns the exit
    status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    at = _command_word(argv)
    if at >= 0 and argv[at] == "emulator":
        from . import emulator

        return _guard("emulator", lambda: emulator.run_argv(argv[at + 1:]))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return _guard(args.command, lambda: args.func(args), parser)


def _guard(command: str, fn, parser: Optional[argparse.ArgumentParser] = None) -> int:
    name = f"ossc {command}"
    try:
        return int(fn() or EXIT_OK)
    except UsageError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        print(f"Try '{name} --help'.", file=sys.stderr)
        return EXIT_USAGE
    except CommandError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except SystemExit as exc:  # a parser inside the command (the emulator's)
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or EXIT_OK
        print(f"{name}: {exc.code}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (ossc ls | head): stop quietly.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return EXIT_FAILURE
    except OSError as exc:
        print(f"{name}: {explain(exc)}", file=sys.stderr)
        return EXIT_FAILURE
