"""The LD_PRELOAD interposer shipped with this package.

``python -m ossconnector.preload`` prints the absolute path of the bundled
``libossc_preload.so``, for use as::

    LD_PRELOAD=$(python -m ossconnector.preload) ENABLE_CONNECTOR=1 \\
        OSS_ENDPOINT=... OSS_PATH=oss://bucket/model/ MODEL_DIR=/tmp/model \\
        vllm serve /tmp/model

See docs/ld_preload.md for the environment variables and behaviour.
"""

from __future__ import annotations

import os
import sys

__all__ = ["library_path"]


def library_path() -> str:
    """Absolute path of the libossc_preload.so that this package loads."""
    from ._native import ffi, lib  # the extension is linked against it

    del ffi
    here = os.path.dirname(os.path.abspath(__file__))
    candidate = os.path.join(here, "libossc_preload.so")
    if os.path.exists(candidate):
        return candidate
    # Editable/development installs: ask the dynamic loader where it is.
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith("libossc_preload.so"):
                return line.split()[-1]
    raise FileNotFoundError(f"libossc_preload.so not found next to {here} (lib {lib!r})")


if __name__ == "__main__":
    print(library_path())
    sys.exit(0)
