"""The interposer's record of which fds are ours follows every way an fd
closes or is duplicated: fclose (libc closes a stream's fd internally),
close_range, closefrom, and a vfork child (Python's subprocess)
that closes or dup2s fds before its exec, which must not change its
parent's record.

What the record says is observable without timing: fstat of an fd of ours
describes the placeholder in MODEL_DIR (its inode), fstat of any other fd
the file behind it.  A stale entry makes a closed (or reused) number
answer fstat with the placeholder's inode; a lost entry makes a model fd
answer with the cache file's."""

import os

from preload_helpers import preload_env, run

SHARD = "model-00001-of-00003.safetensors"

PRELUDE = r"""
import ctypes, errno, json, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.fclose.argtypes = [ctypes.c_void_p]
libc.fileno.argtypes = [ctypes.c_void_p]
shard = os.path.join(os.environ['MODEL_DIR'], %r)
placeholder = os.stat(shard).st_ino
def looks_ours(fd):
    try:
        return os.fstat(fd).st_ino == placeholder
    except OSError as e:
        assert e.errno == errno.EBADF, e
        return False
out = {}
""" % SHARD


def run_checks(toy_model, emu, bucket, body, **extra):
    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"], **extra)
    proc = run(PRELUDE + body + "\nprint(json.dumps(out))", env, timeout=180)
    import json

    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_fclose_forgets_the_stream_fd(emu, bucket, toy_model):
    got = run_checks(toy_model, emu, bucket, r"""
fp = libc.fopen(shard.encode(), b"rb")
assert fp, ctypes.get_errno()
n = libc.fileno(fp)
out['open_is_ours'] = looks_ours(n)
assert libc.fclose(fp) == 0
out['closed_is_ours'] = looks_ours(n)
# The number's next owner is a file of the user's: it must be itself.
scratch = os.path.join(os.environ['SCRATCH'], 'scratch')
with open(scratch, 'wb') as f:
    f.write(b'user bytes')
fd = os.open(scratch, os.O_RDWR)
out['reused_is_ours'] = looks_ours(fd)
out['reused_is_itself'] = os.fstat(fd).st_ino == os.stat(scratch).st_ino
os.close(fd)
""", SCRATCH=toy_model["cache"].parent)
    assert got == {"open_is_ours": True, "closed_is_ours": False, "reused_is_ours": False,
                   "reused_is_itself": True}


def test_close_range_and_closefrom_forget_their_fds(emu, bucket, toy_model):
    got = run_checks(toy_model, emu, bucket, r"""
libc.close_range.argtypes = [ctypes.c_uint, ctypes.c_uint, ctypes.c_int]
fd = os.open(shard, os.O_RDONLY)
out['open_is_ours'] = looks_ours(fd)
# CLOSE_RANGE_CLOEXEC (4) closes nothing: the fd stays ours.
assert libc.close_range(fd, fd, 4) == 0
out['cloexec_is_ours'] = looks_ours(fd)
assert libc.close_range(fd, fd, 0) == 0
out['closed_is_ours'] = looks_ours(fd)
# closefrom(n) closes every fd from n on: done in a forked child, whose
# engine threads are gone, with the model fd the highest of its fds.
high = os.dup2(os.open(shard, os.O_RDONLY), 900)
out['high_is_ours'] = looks_ours(high)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    libc.closefrom(high)
    os.write(w, b'1' if looks_ours(high) else b'0')
    os._exit(0)
os.waitpid(pid, 0)
out['closefrom_in_child_is_ours'] = os.read(r, 1) == b'1'
out['parent_still_ours'] = looks_ours(high)
""")
    assert got == {"open_is_ours": True, "cloexec_is_ours": True, "closed_is_ours": False,
                   "high_is_ours": True, "closefrom_in_child_is_ours": False,
                   "parent_still_ours": True}


def test_vfork_child_leaves_the_parents_record_alone(emu, bucket, toy_model):
    """Python's subprocess runs its child with vfork where it can: the child
    shares the parent's memory while it dup2s the model fd onto its stdin
    and closes the others (close_range) before exec.  The parent's record
    must still say its model fd is ours and its stdin is not."""
    got = run_checks(toy_model, emu, bucket, r"""
fd = os.open(shard, os.O_RDONLY)
keep = os.open(shard, os.O_RDONLY)
out['before'] = [looks_ours(fd), looks_ours(keep), looks_ours(0)]
proc = subprocess.run(['sha256sum'], stdin=fd, capture_output=True, close_fds=True)
assert proc.returncode == 0, proc.stderr
import hashlib
os.lseek(fd, 0, 0)
data = b''.join(iter(lambda: os.read(fd, 1 << 20), b''))
out['child_saw_the_bytes'] = proc.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()
out['after'] = [looks_ours(fd), looks_ours(keep), looks_ours(0)]
""")
    assert got == {"before": [True, True, False], "child_saw_the_bytes": True,
                   "after": [True, True, False]}


def test_duplicate_beyond_the_table_is_refused(emu, bucket, toy_model):
    """An fd of ours duplicated to a number the table cannot hold would be
    read without waiting for its bytes: refused with EMFILE instead."""
    got = run_checks(toy_model, emu, bucket, r"""
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (70000, max(hard, 70000)))
except (ValueError, OSError):
    out['skip'] = True
if 'skip' not in out:
    fd = os.open(shard, os.O_RDONLY)
    try:
        os.dup2(fd, 66000)
        out['dup2'] = 'ok'
    except OSError as e:
        out['dup2'] = errno.errorcode[e.errno]
    out['high_open'] = looks_ours(66000)
    plain = os.open('/dev/null', os.O_RDONLY)
    os.dup2(plain, 66001)  # not ours: no limit
    out['plain_high'] = os.fstat(66001).st_ino == os.fstat(plain).st_ino
""")
    if got.get("skip"):
        import pytest

        pytest.skip("cannot raise RLIMIT_NOFILE past 65536 here")
    assert got == {"dup2": "EMFILE", "high_open": False, "plain_high": True}


def test_o_path_open_is_a_path_handle(emu, bucket, toy_model):
    """O_PATH asks for a handle that reads nothing: it stays one (on the
    placeholder), and reopening it through /proc/self/fd reads the
    object's bytes, as any other name of the placeholder does."""
    m = toy_model
    got = run_checks(toy_model, emu, bucket, r"""
import hashlib
h = os.open(shard, os.O_PATH)
try:
    os.read(h, 1)
    out['read'] = 'ok'
except OSError as e:
    out['read'] = errno.errorcode[e.errno]
with open('/proc/self/fd/%d' % h, 'rb') as f:
    out['sha256'] = hashlib.sha256(f.read()).hexdigest()
""")
    import hashlib

    assert got == {"read": "EBADF",
                   "sha256": hashlib.sha256(m["files"][SHARD]).hexdigest()}


def test_partial_munmap_keeps_the_rest_of_the_mapping_in_use(emu, bucket, toy_model):
    """A mapping unmapped in part (its first page) still counts as a user of
    its file: with a release delay of 0 the file is not released while the
    rest is mapped, and the rest reads the object's bytes, not the zeros of
    a released (hole-punched) cache file.  The event waited for: the next
    file, used and closed after, released by the same janitor pass order."""
    m = toy_model
    shard2 = "model-00002-of-00003.safetensors"
    got = run_checks(toy_model, emu, bucket, r"""
import glob, hashlib, mmap, time
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
size = os.path.getsize(shard)
page = mmap.PAGESIZE
assert size > 2 * page
fd = os.open(shard, os.O_RDONLY)
addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
assert addr not in (None, ctypes.c_void_p(-1).value)
os.close(fd)
assert libc.munmap(addr, page) == 0  # the head only
(cache,) = glob.glob(os.path.join(os.environ['OSSC_CACHE_DIR'], 'ossc-*'))
other = os.path.join(os.environ['MODEL_DIR'], %r)
with open(other, 'rb') as f:
    f.read()
deadline = time.time() + 120
while os.stat(os.path.join(cache, 'data.1')).st_blocks and time.time() < deadline:
    time.sleep(0.05)
out['other_released'] = os.stat(os.path.join(cache, 'data.1')).st_blocks == 0
out['mapped_kept'] = os.stat(os.path.join(cache, 'data.0')).st_blocks > 0
out['tail_sha256'] = hashlib.sha256(ctypes.string_at(addr + page, size - page)).hexdigest()
""" % shard2, OSSC_RELEASE_DELAY=0)
    import hashlib
    import mmap

    data = m["files"][SHARD]
    assert got == {"other_released": True, "mapped_kept": True,
                   "tail_sha256": hashlib.sha256(data[mmap.PAGESIZE:]).hexdigest()}


def test_unmap_advice_stays_on_the_range_unmapped(emu, bucket, toy_model):
    """Just before a mapping of a model file is unmapped, its range is
    advised MADV_SEQUENTIAL, so the kernel's teardown skips moving each page
    to the active list; what stays mapped keeps its own flags: after the
    head page is unmapped the rest shows no 'sr' in /proc/self/smaps, nor
    does the mapping after a munmap that failed (an address not
    page-aligned, EINVAL)."""
    got = run_checks(toy_model, emu, bucket, r"""
import mmap
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
def vmflags(addr):
    inside = False
    with open('/proc/self/smaps') as f:
        for line in f:
            head = line.split()[0]
            if '-' in head and ':' not in head:
                lo, hi = (int(x, 16) for x in head.split('-'))
                inside = lo <= addr < hi
            elif inside and line.startswith('VmFlags:'):
                return line.split()[1:]
    return None
size = os.path.getsize(shard)
page = mmap.PAGESIZE
fd = os.open(shard, os.O_RDONLY)
addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
assert addr not in (None, ctypes.c_void_p(-1).value)
os.close(fd)
out['mapped'] = 'sr' in vmflags(addr)
rc = libc.munmap(addr + 1, page)
out['unaligned'] = [rc, ctypes.get_errno() == errno.EINVAL]
out['after_failed_munmap'] = 'sr' in vmflags(addr)
assert libc.munmap(addr, page) == 0
out['head_gone'] = vmflags(addr) is None
out['tail'] = 'sr' in vmflags(addr + page)
""")
    assert got == {"mapped": False, "unaligned": [-1, True], "after_failed_munmap": False,
                   "head_gone": True, "tail": False}


def test_fd_inherited_across_exec_waits_for_its_bytes(emu, bucket, toy_model):
    """bash opens the model file (an fd of ours) as stdin and execs
    sha256sum: the new image records the fd it was started with, so its
    reads wait for the bytes -- here for a GET the server holds until
    sha256sum is known to be waiting -- instead of reading the cache file's
    holes as zeros."""
    import hashlib
    import subprocess

    from tests_helpers import wait_until

    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["model_dir"], m["cache"], OSSC_LAZY=1)
    emu.faults.hold(count=1, bucket=bucket, key=m["prefix"] + SHARD, method="GET")
    proc = subprocess.Popen(["bash", "-c", f"exec sha256sum < '{m['model_dir']}/{SHARD}'"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: emu.faults.held() >= 1, "a GET held at the server", proc=proc)
    finally:
        emu.faults.release()
        out, err = proc.communicate(timeout=300)
        emu.faults.clear()
    assert proc.returncode == 0, err
    assert out.split()[0] == hashlib.sha256(m["files"][SHARD]).hexdigest()
