"""The documentation site builds with `mkdocs build --strict`: no broken
link or #anchor, no page of docs/ left out of the navigation."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install mkdocs)")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    for page in ("index", "install", "cli", "ld_preload", "configuration", "python-api",
                 "migration", "troubleshooting", "benchmarks"):
        assert os.path.isfile(tmp_path / "site" / f"{page}.html"), page
