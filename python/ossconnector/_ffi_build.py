"""Generates the C source of the cffi extension (out-of-line API mode).

Run by meson at build time: ``python _ffi_build.py OUTPUT.c``.  The C
declarations live in ``_ossc_cdef.h`` next to this file.
"""

import pathlib
import sys

import cffi


def make_ffi() -> cffi.FFI:
    here = pathlib.Path(__file__).parent
    ffi = cffi.FFI()
    ffi.cdef((here / "_ossc_cdef.h").read_text())
    ffi.set_source("ossconnector._ossc_ffi", '#include "ossc.h"\n#include "ossc_dir.h"\n')
    return ffi


if __name__ == "__main__":
    make_ffi().emit_c_code(sys.argv[1])
