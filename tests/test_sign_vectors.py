"""The committed signing vectors must be exactly what the installed oss2 SDK
produces: rerun libpreload/tests/gen_sign_vectors.py into a temporary file
and compare it byte for byte with libpreload/tests/sign_vectors.json."""

import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("oss2")

REPO = pathlib.Path(__file__).resolve().parent.parent
GENERATOR = REPO / "libpreload" / "tests" / "gen_sign_vectors.py"
COMMITTED = REPO / "libpreload" / "tests" / "sign_vectors.json"


def test_sign_vectors_match_installed_oss2(tmp_path):
    out = tmp_path / "sign_vectors.json"
    subprocess.run([sys.executable, str(GENERATOR), str(out)], check=True, cwd=tmp_path)
    assert out.read_bytes() == COMMITTED.read_bytes(), (
        "sign_vectors.json is out of date with the installed oss2; "
        "rerun libpreload/tests/gen_sign_vectors.py and review the diff")
