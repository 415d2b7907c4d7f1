"""Under LD_PRELOAD, every way of reading MODEL_DIR sees the objects'
exact bytes: coreutils, a C program (fopen/fread, read, pread, mmap, and
_FORTIFY_SOURCE's checking openat/pread entry points), the directory looks
normal, and the model is fetched once."""

import hashlib
import os
import subprocess

import pytest

from preload_helpers import preload_env, run, served_bytes

C_READER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
/* usage: reader MODE IN OUT [direct];
 * MODE = fread | read | pread | mmap | chk | chk64 */
int main(int argc, char **argv) {
    const char *mode = argv[1];
    struct stat st;
    if (stat(argv[2], &st) < 0) { perror("stat"); return 2; }
    char *buf = malloc(st.st_size + 1);
    size_t got = 0;
    if (!strcmp(mode, "fread")) {
        FILE *f = fopen(argv[2], "rb");
        if (!f) { perror("fopen"); return 2; }
        size_t n;
        while ((n = fread(buf + got, 1, 4096, f)) > 0) got += n;
        fclose(f);
    } else {
        /* O_DIRECT (ignored on cached files) only where the file is ours. */
        int direct = argc > 4 && !strcmp(argv[4], "direct") ? O_DIRECT : 0;
        int chk = !strncmp(mode, "chk", 3), chk64 = !strcmp(mode, "chk64");
        /* Flags and lengths unknown at compile time, a buffer of known
         * size: the fortified headers call __openat_2 / __pread_chk (64: the
         * __openat64_2 / __pread64_chk entry points). */
        int fd = !chk ? open(argv[2], O_RDONLY | direct)
                 : chk64 ? openat64(AT_FDCWD, argv[2], O_RDONLY | direct)
                         : openat(AT_FDCWD, argv[2], O_RDONLY | direct);
        if (fd < 0) { perror("open"); return 2; }
        if (chk) {
            char chunk[65536];
            volatile size_t cap = sizeof chunk;  /* not provably in bounds */
            while ((off_t)got < st.st_size) {
                size_t want = st.st_size - got < cap ? st.st_size - got : cap;
                ssize_t n = chk64 ? pread64(fd, chunk, want, got) : pread(fd, chunk, want, got);
                if (n <= 0) { perror("pread"); return 3; }
                memcpy(buf + got, chunk, n);
                got += n;
            }
        } else if (!strcmp(mode, "read")) {
            ssize_t n;
            while ((n = read(fd, buf + got, 100000)) > 0) got += n;
            if (n < 0) { perror("read"); return 3; }
        } else if (!strcmp(mode, "pread")) {
            for (off_t off = st.st_size; off > 0;) {  /* backwards, odd sizes */
                size_t len = off >= 77777 ? 77777 : off;
                off -= len;
                if (pread(fd, buf + off, len, off) != (ssize_t)len) { perror("pread"); return 3; }
            }
            got = st.st_size;
        } else {
            char *m = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            if (m == MAP_FAILED) { perror("mmap"); return 3; }
            memcpy(buf, m, st.st_size);
            munmap(m, st.st_size);
            got = st.st_size;
        }
        close(fd);
    }
    FILE *o = fopen(argv[3], "wb");
    fwrite(buf, 1, got, o);
    fclose(o);
    return got == (size_t)st.st_size ? 0 : 4;
}
"""


@pytest.fixture(scope="module")
def c_reader(tmp_path_factory):
    d = tmp_path_factory.mktemp("creader")
    src = d / "reader.c"
    src.write_text(C_READER)
    exe = d / "reader"
    subprocess.run(["cc", "-O2", "-D_FORTIFY_SOURCE=2", "-o", str(exe), str(src)], check=True)
    return str(exe)


def test_coreutils_and_c_program_read_exact_bytes(emu, bucket, toy_model, c_reader, tmp_path):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    out = tmp_path / "out"
    out.mkdir()
    script = [f"set -e; cd {m['model_dir']}", "ls -la > /dev/null", "sha256sum $(find . -type f ! -name .ossc-manifest | sort)"]
    for rel in m["files"]:
        safe = rel.replace("/", "_")
        script.append(f"cp '{rel}' '{out}/cp_{safe}'")
        for mode in ("fread", "read", "pread", "mmap", "chk", "chk64"):
            direct = "direct" if rel.endswith(".safetensors") else ""
            script.append(f"{c_reader} {mode} '{rel}' '{out}/{mode}_{safe}' {direct}")
    proc = run(["bash", "-c", "\n".join(script)], env)
    sums = dict(reversed(line.split("  ./")) for line in proc.stdout.splitlines())
    for rel, data in m["files"].items():
        assert sums[rel] == hashlib.sha256(data).hexdigest(), rel
        safe = rel.replace("/", "_")
        for kind in ("cp", "fread", "read", "pread", "mmap", "chk", "chk64"):
            assert (out / f"{kind}_{safe}").read_bytes() == data, (kind, rel)
    total = sum(len(d) for d in m["files"].values())
    assert served_bytes(emu, bucket, m["prefix"]) <= 1.05 * total


def test_directory_looks_normal(emu, bucket, toy_model):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    code = f"""
import glob, json, os
d = {str(m['model_dir'])!r}
shards = sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, '*.safetensors')))
sizes = {{n: os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)}}
print(json.dumps({{"shards": shards, "sizes": sizes}}))
"""
    import json

    got = json.loads(run(code, env).stdout)
    expected = sorted(r for r in m["files"] if r.endswith(".safetensors"))
    assert got["shards"] == expected
    for rel, data in m["files"].items():
        assert got["sizes"][rel] == len(data)
    assert ".ossc-manifest" in got["sizes"]  # the record of what we created


def test_cache_and_placeholders_cleaned_after_last_exit(emu, bucket, toy_model):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    run("import os; os.listdir(os.environ['MODEL_DIR'])", env)
    assert os.listdir(m["cache"]) == []
    left = sorted(os.listdir(m["model_dir"]))
    assert left == sorted([".ossc-manifest", "config.json", "model.safetensors.index.json"])
    for name in os.listdir(m["cache"]):
        assert os.stat(m["cache"] / name).st_mode & 0o077 == 0


def test_cache_files_are_private(emu, bucket, toy_model):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    code = """
import os, stat
root = os.environ['OSSC_CACHE_DIR']
modes = []
for d in os.listdir(root):
    p = os.path.join(root, d)
    modes.append(stat.S_IMODE(os.stat(p).st_mode))
    modes += [stat.S_IMODE(os.stat(os.path.join(p, f)).st_mode) for f in os.listdir(p)]
print(sorted(set(modes)))
"""
    assert run(code, env).stdout.strip() == "[384, 448]"  # 0600 files, 0700 directory


def test_exec_right_after_setup(emu, bucket, toy_model):
    """bash -c 'cmd' execs cmd in the same pid while the first image's
    prefetches are in flight: the new image must take those chunks over
    instead of waiting for fetches that died with the old image."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    for _ in range(5):
        proc = run(["bash", "-c", f"exec sha256sum {m['model_dir']}/model-00001-of-00003.safetensors"],
                   env, timeout=60)
        assert hashlib.sha256(m["files"]["model-00001-of-00003.safetensors"]).hexdigest() in proc.stdout


def test_subshells_exit_while_prefetching(emu, bucket, toy_model):
    """bash forks a subshell per $(...) while the engine's threads sign and
    fetch; each subshell leaves through exit(), where libcrypto's cleanup
    runs.  A fork that copied a lock held by an I/O thread would hang it
    (the fork gate prevents that): the script must finish."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"])
    script = "for i in $(seq 1 40); do x=$(echo $i); done; echo done"
    for _ in range(3):
        proc = run(["bash", "-c", script], env, timeout=120)
        assert proc.stdout.strip() == "done"


def test_placeholder_reached_by_another_name_serves_the_objects_bytes(emu, bucket, toy_model,
                                                                        tmp_path):
    """A symlink or hard link to a placeholder, or a path through
    /proc/self/cwd, misses the interposer's path lookup; the placeholder's
    inode is recognised instead, so the reader gets the object's bytes,
    never the placeholder's zeros (OSSC_LAZY: nothing lands unasked)."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"], OSSC_LAZY=1)
    rel = "model-00001-of-00003.safetensors"
    code = f"""
import ctypes, hashlib, json, os
d = os.environ['MODEL_DIR']
shard = os.path.join(d, {rel!r})
other = {str(tmp_path)!r}
os.symlink(shard, os.path.join(other, 'via-symlink'))
os.link(shard, os.path.join(other, 'via-hardlink'))
os.chdir(d)
paths = {{'symlink': os.path.join(other, 'via-symlink'),
          'hardlink': os.path.join(other, 'via-hardlink'),
          'proc-cwd': '/proc/self/cwd/' + {rel!r}}}
out = {{}}
for name, p in paths.items():
    with open(p, 'rb') as f:
        out[name] = hashlib.sha256(f.read()).hexdigest()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
size = os.path.getsize(shard)
buf = ctypes.create_string_buffer(size)
fp = libc.fopen(paths['symlink'].encode(), b'rb')
assert libc.fread(buf, 1, size, fp) == size
libc.fclose(fp)
out['fopen-symlink'] = hashlib.sha256(buf.raw).hexdigest()
print(json.dumps(out))
"""
    import json

    got = json.loads(run(code, env).stdout.strip().splitlines()[-1])
    want = hashlib.sha256(m["files"][rel]).hexdigest()
    assert got == {k: want for k in ("symlink", "hardlink", "proc-cwd", "fopen-symlink")}


def test_freopen_serves_the_objects_bytes(emu, bucket, toy_model, tmp_path):
    """freopen opens and closes inside libc, where no hook sees it: a
    model file reopened onto a stream (by its name, by a symlink, or by a
    NULL path that reopens the stream's own file) reads the object's bytes,
    never the placeholder's zeros (OSSC_LAZY: nothing lands unasked, so the
    stream's file must be made whole first); a stream reopened from a model
    file onto a user's file is that file again (fstat answers for it, not
    for the placeholder)."""
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"], OSSC_LAZY=1)
    rel = "model-00002-of-00003.safetensors"
    code = f"""
import ctypes, hashlib, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = libc.freopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.freopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
libc.fread.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
libc.fclose.argtypes = libc.fileno.argtypes = [ctypes.c_void_p]
shard = os.path.join(os.environ['MODEL_DIR'], {rel!r})
link = os.path.join({str(tmp_path)!r}, 'via-symlink')
os.symlink(shard, link)
scratch = os.path.join({str(tmp_path)!r}, 'user-file')
with open(scratch, 'wb') as f:
    f.write(b'user bytes')
size = os.path.getsize(shard)
def digest(fp):
    buf = ctypes.create_string_buffer(size)
    n = libc.fread(buf, 1, size, fp)
    return hashlib.sha256(buf.raw[:n]).hexdigest()
out = {{}}
fp = libc.fopen(scratch.encode(), b'rb')
for name, path in (('by-name', shard.encode()), ('null-path', None),
                   ('symlink', link.encode())):
    fp = libc.freopen(path, b'rb', fp)
    assert fp, (name, ctypes.get_errno())
    out[name] = digest(fp)
fp = libc.freopen(scratch.encode(), b'rb', fp)
buf = ctypes.create_string_buffer(64)
n = libc.fread(buf, 1, 64, fp)
out['user-file'] = buf.raw[:n].decode()
out['user-file-fstat'] = os.fstat(libc.fileno(fp)).st_ino == os.stat(scratch).st_ino
libc.fclose(fp)
print(json.dumps(out))
"""
    import json

    got = json.loads(run(code, env).stdout.strip().splitlines()[-1])
    want = hashlib.sha256(m["files"][rel]).hexdigest()
    assert got == {"by-name": want, "null-path": want, "symlink": want,
                   "user-file": "user bytes", "user-file-fstat": True}


def test_freopen_failures_are_libcs(emu, bucket, toy_model, tmp_path):
    """A freopen onto a model file whose object is gone fails as libc's
    freopen fails: NULL with ENOENT, the FILE still the caller's to fclose
    (no double free); a freopen(NULL, "r+") of a model stream, which would
    reopen the node's shared cache file for writing, fails with EACCES and
    leaves the cache file's bytes as they were."""
    from preload_helpers import fast_fail_config

    m = toy_model
    gone = "model-00003-of-00003.safetensors"
    rel = "model-00001-of-00003.safetensors"
    emu.faults.error(status=404, code="NoSuchKey", count=1000, bucket=bucket,
                     key=m["prefix"] + gone, method="GET")
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"], OSSC_LAZY=1,
                      OSS_CONNECTOR_CONFIG=fast_fail_config(tmp_path))
    code = f"""
import ctypes, errno, hashlib, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = libc.freopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.freopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
d = os.environ['MODEL_DIR']
out = {{}}
scratch = os.path.join({str(tmp_path)!r}, 'user-file')
with open(scratch, 'wb') as f:
    f.write(b'user bytes')
fp = libc.fopen(scratch.encode(), b'rb')
r = libc.freopen(os.path.join(d, {gone!r}).encode(), b'rb', fp)
out['gone'] = [r, errno.errorcode.get(ctypes.get_errno())]
out['fclose_after'] = libc.fclose(fp) in (0, -1)   # reached without a crash
fp = libc.fopen(os.path.join(d, {rel!r}).encode(), b'rb')
r = libc.freopen(None, b'r+', fp)
out['rw_reopen'] = [r, errno.errorcode.get(ctypes.get_errno())]
libc.fclose(fp)
with open(os.path.join(d, {rel!r}), 'rb') as f:
    out['model'] = hashlib.sha256(f.read()).hexdigest()
print(json.dumps(out))
"""
    import json

    got = json.loads(run(code, env).stdout.strip().splitlines()[-1])
    emu.faults.clear()
    assert got == {"gone": [None, "ENOENT"], "fclose_after": True,
                   "rw_reopen": [None, "EACCES"],
                   "model": hashlib.sha256(m["files"][rel]).hexdigest()}
