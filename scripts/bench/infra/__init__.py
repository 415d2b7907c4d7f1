"""What the benchmark scenarios run on: local object servers (``servers``,
``localbucket_oss``), the delay proxy of the cloud-like variant
(``delay_proxy``), the s3fs-fuse mount (``s3fs_mount``), the data they serve
(``data``), the peers' venv and timed worker processes (``peers``), and the
environment every worker of a full-API server run gets (``worker_env``).

Importable as ``infra`` once ``scripts/bench`` is on ``sys.path`` (run.py
and every scenario module put it there)."""

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent   # scripts/bench
REPO = BENCH.parent.parent
DOC = REPO / "docs" / "benchmarks.md"             # the Markdown sections go here
RESULTS_DIR = REPO / "docs" / "benchmarks"        # results.json and the plots


def run_main(main) -> None:
    """Runs a command line's ``main()`` and exits with its status.  SIGTERM
    ends it as SystemExit(143) so that every ``finally`` runs (servers
    stopped, /etc/hosts lines and mounts removed); Ctrl-C exits with
    "interrupted"."""
    import signal
    import sys

    def _exit_on_sigterm(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted")
