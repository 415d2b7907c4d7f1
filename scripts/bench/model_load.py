#!/usr/bin/env python3
"""Kept so that older commands work: the model_load scenario alone, with its
own options (``--runs`` is its rounds; ``--json``, ``--clients``...).
``run.py --scenario model_load`` runs the same scenario with run.py's
options (``--size-gib``, ``--model-runs``) and records it in results.json."""

import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import model_load  # noqa: E402

if __name__ == "__main__":
    sys.exit(model_load.main(command=shlex.join(["python3", "scripts/bench/model_load.py",
                                                 *sys.argv[1:]])))
