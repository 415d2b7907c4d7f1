"""Looking at GOT entries from the outside: where a library's entry for a
symbol lives (from `readelf -r`), what it holds now, and which loaded
file an address belongs to."""

from __future__ import annotations

import ctypes
import re
import shutil
import subprocess


def mapped_files():
    """[(start, end, offset, path)] of file mappings of this process."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[5].startswith("/"):
                lo, hi = (int(x, 16) for x in parts[0].split("-"))
                out.append((lo, hi, int(parts[2], 16), parts[5]))
    return out


def owner(addr: int):
    """Path of the mapped file holding addr, or None."""
    for lo, hi, _, path in mapped_files():
        if lo <= addr < hi:
            return path
    return None


def load_base(path: str) -> int:
    """Load address of a shared library (its first mapping, offset 0)."""
    starts = [lo for lo, _, off, p in mapped_files() if p == path and off == 0]
    assert starts, f"{path} is not loaded"
    return min(starts)


def got_entries(path: str, symbol: str):
    """Addresses (in this process) of `path`'s GOT entries for `symbol`
    (JUMP_SLOT or GLOB_DAT relocations)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        import pytest

        pytest.skip("readelf (binutils) is needed to locate GOT entries")
    text = subprocess.run([readelf, "-rW", path], capture_output=True, text=True,
                          check=True).stdout
    base = load_base(path)
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+R_X86_64_(JUMP_SLOT|GLOB_DAT)\s+[0-9a-f]+\s+"
                     r"(\S+?)(@\S+)?\s", line + " ")
        if m and m.group(3) == symbol:
            out.append(base + int(m.group(1), 16))
    return out


def read_pointer(addr: int) -> int:
    return ctypes.c_void_p.from_address(addr).value or 0


def libc_function(name: str) -> int:
    return ctypes.cast(getattr(ctypes.CDLL(None), name), ctypes.c_void_p).value


def c_library(tmp_path, name: str, source: str):
    """Compiles C ``source`` into ``tmp_path/lib<name>.so`` and returns its
    path, or skips the test where no C compiler is installed.  Loaded after
    prepare_directory(libc_hook=True), it is patched on load (dlopen)."""
    import pytest

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    so = tmp_path / f"lib{name}.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(so), str(src)], check=True)
    return so
