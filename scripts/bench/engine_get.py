#!/usr/bin/env python3
"""Kept so that older commands work: `engine_get.py ARGS` is
`run.py --scenario engine_get ARGS` (see run.py --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run.main(["--scenario", "engine_get", *sys.argv[1:]]))
