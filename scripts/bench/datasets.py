#!/usr/bin/env python3
"""Kept so that older commands work: `datasets.py ARGS` is
`run.py --scenario datasets_nginx ARGS` (see run.py --help)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run.main(["--scenario", "datasets_nginx", *sys.argv[1:]]))
