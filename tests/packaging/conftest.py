"""Release artifacts for the packaging tests: the .deb, the .rpm and the
wheel, built once per session by packaging/build-packages.sh into a
temporary directory, or taken from $OSSC_DIST_DIR (e.g. `make packages`
output: set OSSC_DIST_DIR=dist to test exactly what it built)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def project_version() -> str:
    with open(os.path.join(ROOT, "meson.build")) as f:
        return re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)


def _find(dist: str, pattern: str):
    hits = sorted(glob.glob(os.path.join(dist, pattern)))
    return hits[-1] if hits else None


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """{'deb': path|None, 'rpm': path|None, 'wheel': path, 'version': str}."""
    version = project_version()
    given = os.environ.get("OSSC_DIST_DIR")
    if given:
        d = os.path.abspath(given)
    else:
        d = str(tmp_path_factory.mktemp("dist"))
        want = ["wheel"]
        if shutil.which("dpkg-deb"):
            want.append("deb")
        if shutil.which("rpmbuild"):
            want.append("rpm")
        env = dict(os.environ, DIST_DIR=d, BUILD_DIR=os.path.join(d, "build-pkg"))
        proc = subprocess.run(["bash", os.path.join(ROOT, "packaging", "build-packages.sh"),
                               *want], env=env, capture_output=True, text=True,
                              timeout=2400)  # the wheel's deps from source: minutes, once
        assert proc.returncode == 0, f"build-packages.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return {
        "dir": d,
        "version": version,
        "deb": _find(d, f"oss-connector-lib_{version}_*.deb"),
        "rpm": _find(d, f"oss-connector-lib-{version}.*.rpm"),
        "wheel": _find(d, f"ossconnector-{version}-*.whl"),
    }


@pytest.fixture(scope="module")
def emu():
    """A fresh emulator for the install tests: they run last and must not
    depend on the state hundreds of earlier tests left in the shared one."""
    from ossconnector.emulator.testing import running_emulator

    with running_emulator(min_part_size=100 * 1024) as emulator:
        yield emulator
