"""The node-wide model cache under ThreadSanitizer: several processes, each
with several threads, read a model's files through a TSan-built
libossc_preload.so at the same time; every byte must match and TSan must
report nothing.

Run by `make tsan` (scripts/tsan.sh), which builds build-tsan/ and sets
OSSC_TSAN_PRELOAD (the instrumented library); skipped without it.

The reader is a small C program built here with -fsanitize=thread (TSan
must be the first runtime loaded; an uninstrumented python with libtsan
preloaded deadlocks in glibc's locale lock at start-up).  TSan runs with
symbolize=0: its symbolizer allocates with mmap during its own start-up,
which the preloaded mmap hook, itself instrumented, would then serve
before TSan is ready.  Report frames are symbolized here with addr2line."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess

import pytest

from preload_helpers import preload_env, upload_toy_model

TSAN_LIB = os.environ.get("OSSC_TSAN_PRELOAD")

pytestmark = pytest.mark.skipif(not TSAN_LIB, reason="OSSC_TSAN_PRELOAD not set (make tsan)")

# usage: reader DIR FILE...; 6 threads each read every file thrice, whole with
# read() (even threads) or backwards in odd slices with pread() (odd
# threads), and keep its FNV-1a 64 digest; prints "FILE DIGEST" when all
# threads agree, exits 1 otherwise.
READER_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define THREADS 6
static int nfiles;
static char **files;
static const char *dir;
static uint64_t digest[THREADS][64];
static int failed;

static uint64_t fnv(const unsigned char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    return h;
}

static void *work(void *arg) {
    int t = (int)(intptr_t)arg;
    for (int k = 0; k < 3 * nfiles; k++) {  /* each file three times */
        int i = (k + t) % nfiles;
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        int fd = open(path, O_RDONLY);
        if (fd < 0 || fstat(fd, &st) < 0) { perror(path); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); return NULL; }
        unsigned char *buf = malloc(st.st_size + 1);
        size_t got = 0;
        if (t % 2 == 0) {
            ssize_t n;
            while ((n = read(fd, buf + got, 100003)) > 0) got += n;
        } else {
            for (off_t off = st.st_size; off > 0;) {
                size_t len = off >= 65537 ? 65537 : off;
                off -= len;
                if (pread(fd, buf + off, len, off) != (ssize_t)len) break;
                got += len;
            }
        }
        close(fd);
        if (got != (size_t)st.st_size) { fprintf(stderr, "%s: short read\n", path); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); }
        uint64_t h = fnv(buf, got);
        if (k >= nfiles && digest[t][i] != h) { fprintf(stderr, "%s: changed between reads\n", path); __atomic_store_n(&failed, 1, __ATOMIC_SEQ_CST); }
        digest[t][i] = h;
        free(buf);
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t th[THREADS];
    dir = argv[1]; files = argv + 2; nfiles = argc - 2;
    if (nfiles > 64) return 2;
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, work, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    for (int i = 0; i < nfiles; i++) {
        for (int t = 1; t < THREADS; t++)
            if (digest[t][i] != digest[0][i]) { fprintf(stderr, "%s: threads disagree\n", files[i]); failed = 1; }
        printf("%s %016llx\n", files[i], (unsigned long long)digest[0][i]);
    }
    return failed;
}
"""


def _fnv(data: bytes) -> str:
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _symbolize(binaries, module: str, offset: str) -> str:
    """'function file:line' of module+offset through addr2line when module
    is one of ours (binaries: basename -> path), else the raw frame."""
    path = binaries.get(module)
    if not path or not shutil.which("addr2line"):
        return f"{module}+{offset}"
    out = subprocess.run(["addr2line", "-f", "-C", "-e", path, offset],
                         capture_output=True, text=True).stdout.split("\n")
    return f"{out[0]} {os.path.basename(out[1]) if len(out) > 1 else ''}"


def _summarise(reports, binaries):
    """First line, the accesses and their top symbolized frames of each
    distinct TSan report."""
    seen, out = set(), []
    for path in reports:
        with open(path, errors="replace") as f:
            text = f.read()
        for block in re.split(r"\n(?===================)", text):
            head = re.search(r"WARNING: ThreadSanitizer: (.*)", block)
            if not head:
                continue
            lines = []
            for line in block.splitlines()[1:]:
                frame = re.search(r"#(\d+) .*?\((\S+)\+(0x[0-9a-f]+)\)", line)
                if frame and int(frame.group(1)) < 5:
                    lines.append("      " + _symbolize(binaries, frame.group(2), frame.group(3)))
                elif not frame and line.strip() and not line.startswith("=") and "WARNING:" not in line:
                    lines.append("  " + line.strip())
            key = (head.group(1).split(" (")[0], tuple(lines[:4]))
            if key not in seen:
                seen.add(key)
                out.append(head.group(0) + "\n" + "\n".join(lines[:40]))
    return "\n\n".join(out)


def test_cache_read_by_processes_and_threads(emu, bucket, tmp_path):
    model = upload_toy_model(emu, bucket, tmp_path)
    expect = {rel: _fnv(data) for rel, data in model["files"].items()}
    reader = tmp_path / "reader"
    (tmp_path / "reader.c").write_text(READER_C)
    subprocess.run(["cc", "-O1", "-g", "-fsanitize=thread", "-pthread", "-o", str(reader),
                    str(tmp_path / "reader.c")], check=True)
    logs = tmp_path / "tsan"
    logs.mkdir()
    env = preload_env(emu, bucket, model["prefix"], tmp_path / "model", model["cache"])
    env["LD_PRELOAD"] = TSAN_LIB
    env["TSAN_OPTIONS"] = (f"log_path={logs}/report:symbolize=0:halt_on_error=0:exitcode=66:"
                           "second_deadlock_stack=1:report_signal_unsafe=0")

    procs = [subprocess.Popen([str(reader), str(tmp_path / "model"), *sorted(expect)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = []
    try:
        for p in procs:
            results.append((p, *p.communicate(timeout=300)))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    reports = sorted(glob.glob(f"{logs}/report*"))
    binaries = {os.path.basename(TSAN_LIB): TSAN_LIB, reader.name: str(reader)}
    assert not reports, "ThreadSanitizer reports:\n" + _summarise(reports, binaries)
    for proc, out, err in results:
        assert proc.returncode == 0, f"reader exited {proc.returncode}\n{err[-4000:]}"
        got = dict(line.split(" ", 1) for line in out.splitlines())
        assert got == expect, "a reader saw bytes that are not the objects'"
