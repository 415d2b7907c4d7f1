"""prepare_directory in both modes: the directory, real loaders
(safetensors, transformers with a generated sharded model and the real
all-MiniLM-L6-v2), children, hooks installed and removed, errors."""

import glob
import hashlib
import json
import mmap
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from model_helpers import c_library, got_entries, libc_function, owner, read_pointer
from preload_helpers import served_bytes, upload

# C readers for the in-process tests (c_library): read_all by open/read,
# read_stream by fopen/fread, freopen_read by fopen(first), freopen(path)
# and fread; each returns the bytes read into buf, or -1.
READER_C = """
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
long read_all(const char *path, char *buf, long cap) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    long n = 0, r;
    while (n < cap && (r = read(fd, buf + n, cap - n)) > 0) n += r;
    close(fd);
    return n;
}
long read_stream(const char *path, char *buf, long cap) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    long n = (long)fread(buf, 1, (size_t)cap, fp);
    fclose(fp);
    return n;
}
long freopen_read(const char *path, const char *first, char *buf, long cap) {
    FILE *fp = fopen(first, "rb");
    if (!fp || !(fp = freopen(path, "rb", fp))) return -1;
    long n = (long)fread(buf, 1, (size_t)cap, fp);
    fclose(fp);
    return n;
}
"""

SMALL = 64 * 1024


def tensor_digests(directory):
    from safetensors import safe_open
    from safetensors.torch import load_file

    out = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.safetensors"))):
        with safe_open(path, framework="pt") as f:
            for k in f.keys():
                out[k] = hashlib.sha256(f.get_tensor(k).numpy().tobytes()).hexdigest()
        for k, t in load_file(path).items():
            assert hashlib.sha256(t.numpy().tobytes()).hexdigest() == out[k], k
    return out


def large_files(m):
    return sorted(k for k, v in m["files"].items() if len(v) >= SMALL)


def cache_data_files(cache_root):
    return sorted(glob.glob(os.path.join(str(cache_root), "ossc-*", "data.*")))


# ------------------------------------------------------------ default mode


def test_default_mode_links_weights_and_loads(emu, bucket, connector, toy_model):
    m = toy_model
    connector.prepare_directory(m["uri"], str(m["dir"]), small_file_size=SMALL,
                                cache_dir=str(m["cache"]), release_delay=0)
    # Returned with every large file in memory: fetched exactly once.
    total = sum(len(v) for v in m["files"].values())
    assert served_bytes(emu, bucket, m["prefix"]) == total
    for rel, data in m["files"].items():
        p = m["dir"] / rel
        assert os.path.islink(p) == (len(data) >= SMALL), rel
        assert p.read_bytes() == data
        assert os.path.getsize(p) == len(data)
    assert (m["dir"] / ".ossc-manifest").exists()
    assert tensor_digests(m["dir"]) == tensor_digests(m["local"])
    # A process without any hook reads the same bytes through the links.
    code = ("import sys, hashlib; print(hashlib.sha256(open(sys.argv[1], 'rb').read())"
            ".hexdigest())")
    rel = large_files(m)[0]
    out = subprocess.run([sys.executable, "-c", code, str(m["dir"] / rel)], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == hashlib.sha256(m["files"][rel]).hexdigest()
    # Pinned until close(): the janitor (release delay 0) leaves them alone.
    time.sleep(2.5)
    for path in cache_data_files(m["cache"]):
        st = os.stat(path)
        assert st.st_blocks * 512 >= st.st_size, path
    assert served_bytes(emu, bucket, m["prefix"]) == total

    connector.close()
    left = sorted(os.listdir(m["dir"]))
    assert left == sorted([".ossc-manifest"] + [k for k in m["files"] if k not in large_files(m)])
    assert os.listdir(m["cache"]) == []


def test_prepare_again_reuses_the_directory(emu, bucket, cred_file, config_file, toy_model):
    from ossmodelconnector import OssModelConnector

    m = toy_model
    for _ in range(2):
        with OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file) as c:
            c.prepare_directory(m["uri"], str(m["dir"]), small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
            assert tensor_digests(m["dir"]) == tensor_digests(m["local"])


def test_credentials_provider(emu, bucket, config_file, toy_model):
    from oss2.credentials import StaticCredentialsProvider

    from ossmodelconnector import OssModelConnector

    m = toy_model
    provider = StaticCredentialsProvider(emu.access_key_id, emu.access_key_secret)
    with OssModelConnector(emu.endpoint, cred_provider=provider, config_path=config_file) as c:
        for hooks in (False, True):
            c.prepare_directory(m["uri"], str(m["dir"]), hooks, small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
            assert tensor_digests(m["dir"]) == tensor_digests(m["local"])
            c._connector.directories[0].close()


# ------------------------------------------------------------ transformers


def save_tiny_bert(path):
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=128, max_position_embeddings=64)
    BertModel(cfg).eval().save_pretrained(str(path), max_shard_size="150KB")
    files = {}
    for name in os.listdir(path):
        files[name] = (path / name).read_bytes()
    assert sum(n.endswith(".safetensors") for n in files) >= 3, sorted(files)
    return files


@pytest.mark.parametrize("libc_hook", [False, True])
def test_transformers_generated_sharded_model(emu, bucket, connector, tmp_path, libc_hook):
    from transformers import AutoModel

    files = save_tiny_bert(tmp_path / "local")
    upload(emu, bucket, "bert/", files)
    emu.faults.delay(0.05, count=10_000, bucket=bucket, key_prefix="bert/model-", method="GET")
    ids = torch.tensor([[1, 5, 42, 7, 99, 3]])
    with torch.no_grad():
        ref = AutoModel.from_pretrained(str(tmp_path / "local")).eval()(ids).last_hidden_state
    connector.prepare_directory(f"oss://{bucket}/bert/", str(tmp_path / "model"), libc_hook,
                                small_file_size=SMALL, cache_dir=str(tmp_path / "cache"))
    model = AutoModel.from_pretrained(str(tmp_path / "model")).eval()
    with torch.no_grad():
        got = model(ids).last_hidden_state
    assert torch.equal(ref, got)
    connector.close()
    with torch.no_grad():  # the loaded weights stay valid after close()
        assert torch.equal(model(ids).last_hidden_state, ref)


@pytest.mark.parametrize("libc_hook", [False, True])
def test_transformers_real_model_default_arguments(emu, bucket, connector, tmp_path,
                                                   minilm_files, libc_hook, monkeypatch):
    """framworks.md: prepare_directory(oss_path, model_dir) with default
    arguments, then AutoTokenizer/AutoModel.from_pretrained(model_dir)."""
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root, files = minilm_files
    upload(emu, bucket, "minilm/", files)
    emu.reset_stats()
    sentences = ["The cat sits on the mat.", "Weights streamed from object storage."]

    def embed(directory):
        tok = AutoTokenizer.from_pretrained(directory)
        model = AutoModel.from_pretrained(directory).eval()
        enc = tok(sentences, padding=True, return_tensors="pt")
        with torch.no_grad():
            return model(**enc).last_hidden_state

    ref = embed(root)
    model_dir = str(tmp_path / "minilm")
    if libc_hook:
        connector.prepare_directory(f"oss://{bucket}/minilm/", model_dir, True)
    else:
        connector.prepare_directory(f"oss://{bucket}/minilm/", model_dir)
    assert not os.path.islink(os.path.join(model_dir, "tokenizer.json"))  # < 4 MiB: on disk
    assert os.path.islink(os.path.join(model_dir, "model.safetensors")) == (not libc_hook)
    got = embed(model_dir)
    connector.close()
    assert torch.equal(ref, got)
    assert served_bytes(emu, bucket, "minilm/") <= 1.01 * sum(map(len, files.values()))
    assert not os.path.exists(os.path.join(model_dir, "model.safetensors"))


def test_sentence_transformers_real_model(emu, bucket, connector, tmp_path, minilm_files,
                                          monkeypatch):
    st = pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    root, files = minilm_files
    upload(emu, bucket, "minilm/", files)
    sentences = ["A vector for this sentence.", "And another one."]
    ref = st.SentenceTransformer(root, device="cpu").encode(sentences)
    connector.prepare_directory(f"oss://{bucket}/minilm/", str(tmp_path / "m"), True)
    got = st.SentenceTransformer(str(tmp_path / "m"), device="cpu").encode(sentences)
    connector.close()
    assert np.array_equal(ref, got)


# ------------------------------------------------------------ hooks mode


def rust_library():
    import safetensors._safetensors_rust as rs

    return os.path.realpath(rs.__file__)


def test_hooks_serve_every_path_while_downloading(emu, bucket, connector, toy_model):
    """Placeholders stay sparse files; Python open/read, os.pread, mmap and
    safetensors (Rust open64/mmap) read the right bytes while the server is
    slow; GOT entries point at the library and are restored by close()."""
    m = toy_model
    emu.faults.delay(0.3, count=10_000, bucket=bucket, key_prefix=m["prefix"] + "model-",
                     method="GET")
    lib_rs = rust_library()
    slots = got_entries(lib_rs, "open64") + got_entries(lib_rs, "mmap64")
    assert slots
    before = [read_pointer(s) for s in slots]
    t0 = time.time()
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
    assert time.time() - t0 < 1.0  # did not wait for the weights
    d = connector._connector.directories[0]
    assert d.hooked_entries > 0
    for s in slots:
        assert owner(read_pointer(s)).endswith("libossc_preload.so"), hex(s)
    big = large_files(m)
    for rel in big:
        assert not os.path.islink(m["dir"] / rel)
        assert os.stat(m["dir"] / rel).st_blocks == 0  # a sparse placeholder
    with open(m["dir"] / big[0], "rb") as f:
        assert f.read() == m["files"][big[0]]
    fd = os.open(m["dir"] / big[1], os.O_RDONLY)
    try:
        assert os.pread(fd, 1000, 5000) == m["files"][big[1]][5000:6000]
        assert os.fstat(fd).st_size == len(m["files"][big[1]])
        with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as mm:
            assert mm[:] == m["files"][big[1]]
    finally:
        os.close(fd)
    assert tensor_digests(m["dir"]) == tensor_digests(m["local"])
    connector.close()
    assert [read_pointer(s) for s in slots] == before
    assert read_pointer(got_entries(lib_rs, "open64")[0]) == libc_function("open64")
    assert d.hooked_entries == 0


def test_hooks_reach_libraries_loaded_later(emu, bucket, connector, toy_model, tmp_path):
    """A C library dlopen'ed after prepare_directory is patched too: its
    open/read/close see the cache; its GOT entries are restored by close()."""
    import ctypes

    so = c_library(tmp_path, "reader", READER_C)
    m = toy_model
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
    lib = ctypes.CDLL(str(so))  # loaded after the hooks: patched on load
    lib.read_all.restype = ctypes.c_long
    lib.read_all.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long]
    rel = large_files(m)[-1]
    want = m["files"][rel]
    buf = ctypes.create_string_buffer(len(want) + 10)
    assert lib.read_all(str(m["dir"] / rel).encode(), buf, len(want) + 10) == len(want)
    assert buf.raw[:len(want)] == want
    slot = got_entries(str(so), "open")[0]
    assert owner(read_pointer(slot)).endswith("libossc_preload.so")
    connector.close()
    assert read_pointer(slot) == libc_function("open")


def test_hooks_mode_streams_fclose_and_freopen(emu, bucket, connector, toy_model, tmp_path):
    """In-process mode, a C library's stdio: fclose of a model stream
    (libc closes its fd inside) leaves no stale record, so the number's next
    owner, a user's file, answers fstat as itself; freopen onto a model file
    reads the object's bytes (lazy: nothing is fetched unasked)."""
    import ctypes

    so = c_library(tmp_path, "streams", """
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
/* 1 when the fd a user's file gets after fclose of a model stream with the
 * same number answers fstat as that file, 0 when not, -1 on error (tried
 * again while another thread took the freed number first). */
int reused_number_is_itself(const char *model, const char *user) {
    for (int tries = 0; tries < 100; tries++) {
        FILE *fp = fopen(model, "rb");
        if (!fp) return -1;
        int n = fileno(fp);
        fclose(fp);
        int fd = open(user, O_RDONLY);
        if (fd < 0) return -1;
        struct stat a, b;
        int ok = fstat(fd, &a) == 0 && stat(user, &b) == 0 && a.st_ino == b.st_ino;
        close(fd);
        if (fd == n) return ok;
    }
    return -1;
}
""" + READER_C)
    m = toy_model
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, lazy=True,
                                small_file_size=SMALL, cache_dir=str(m["cache"]))
    lib = ctypes.CDLL(str(so))  # loaded after the hooks: patched on load
    lib.reused_number_is_itself.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.freopen_read.restype = ctypes.c_long
    lib.freopen_read.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                 ctypes.c_long]
    user = tmp_path / "user-file"
    user.write_bytes(b"user bytes")
    rel = large_files(m)[0]
    model = str(m["dir"] / rel).encode()
    assert lib.reused_number_is_itself(model, str(user).encode()) == 1
    want = m["files"][rel]
    buf = ctypes.create_string_buffer(len(want) + 10)
    assert lib.freopen_read(model, str(user).encode(), buf, len(want) + 10) == len(want)
    assert buf.raw[:len(want)] == want


def test_hooks_mode_placeholder_by_another_name(emu, bucket, connector, toy_model, tmp_path):
    """In-process mode: a C library opening a large file through a symlink
    or a hard link outside the prepared directory (its path lookup misses)
    reads the object's bytes, by open, fopen and freopen, never the placeholder's
    zeros (lazy: nothing is fetched unasked)."""
    import ctypes

    so = c_library(tmp_path, "names", READER_C)
    m = toy_model
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, lazy=True,
                                small_file_size=SMALL, cache_dir=str(m["cache"]))
    lib = ctypes.CDLL(str(so))  # loaded after the hooks: patched on load
    for fn in (lib.read_all, lib.read_stream):
        fn.restype = ctypes.c_long
        fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_long]
    lib.freopen_read.restype = ctypes.c_long
    lib.freopen_read.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                 ctypes.c_long]
    rel = large_files(m)[0]
    want = m["files"][rel]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "via-symlink").symlink_to(m["dir"] / rel)
    os.link(m["dir"] / rel, elsewhere / "via-hardlink")
    for name in ("via-symlink", "via-hardlink"):
        for fn in (lib.read_all, lib.read_stream):
            buf = ctypes.create_string_buffer(len(want) + 10)
            n = fn(str(elsewhere / name).encode(), buf, len(want) + 10)
            assert (n, buf.raw[:n] == want) == (len(want), True), (name, fn.__name__)
        user = tmp_path / "user-file"
        user.write_bytes(b"user bytes")
        buf = ctypes.create_string_buffer(len(want) + 10)
        n = lib.freopen_read(str(elsewhere / name).encode(), str(user).encode(), buf,
                             len(want) + 10)
        assert (n, buf.raw[:n] == want) == (len(want), True), (name, "freopen")


def test_hooks_mode_fork_child(emu, bucket, connector, toy_model):
    m = toy_model
    emu.faults.delay(0.2, count=10_000, bucket=bucket, key_prefix=m["prefix"] + "model-",
                     method="GET")
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
    rel = large_files(m)[-1]
    pid = os.fork()
    if pid == 0:
        ok = False
        try:
            with open(m["dir"] / rel, "rb") as f:
                ok = f.read() == m["files"][rel]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (m["dir"] / rel).open("rb").read() == m["files"][rel]


def test_hooks_mode_object_gone_fails_reads(emu, bucket, connector, toy_model):
    m = toy_model
    rel = large_files(m)[0]
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, lazy=True,
                                small_file_size=SMALL, cache_dir=str(m["cache"]))
    emu.faults.error(status=404, code="NoSuchKey", count=10_000, bucket=bucket,
                     key=m["prefix"] + rel, method="GET")
    with open(m["dir"] / rel, "rb") as f:
        with pytest.raises(FileNotFoundError):
            f.read()


def test_close_completes_files_still_open(emu, bucket, connector, toy_model):
    m = toy_model
    emu.faults.delay(0.2, count=10_000, bucket=bucket, key_prefix=m["prefix"] + "model-",
                     method="GET")
    connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook=True, lazy=True,
                                small_file_size=SMALL, cache_dir=str(m["cache"]))
    rel = large_files(m)[0]
    f = open(m["dir"] / rel, "rb")
    connector.close()  # the fd now reads the cache file without hooks
    assert f.read() == m["files"][rel]
    f.close()


# ------------------------------------------------------------ errors


def test_foreign_files_refused_nothing_deleted(emu, bucket, connector, toy_model):
    m = toy_model
    m["dir"].mkdir()
    (m["dir"] / "mine.txt").write_text("user data")
    lib_rs = rust_library()
    slot = got_entries(lib_rs, "open64")[0]
    for libc_hook in (False, True):
        with pytest.raises(FileExistsError, match="mine.txt"):
            connector.prepare_directory(m["uri"], str(m["dir"]), libc_hook,
                                        small_file_size=SMALL, cache_dir=str(m["cache"]))
        assert read_pointer(slot) == libc_function("open64")
    assert sorted(os.listdir(m["dir"])) == ["mine.txt"]
    assert (m["dir"] / "mine.txt").read_text() == "user data"
    assert connector._connector.directories == []


def test_missing_prefix(bucket, connector, tmp_path):
    uri = f"oss://{bucket}/no/such/model/"
    with pytest.raises(FileNotFoundError, match=f"oss://{bucket}/no/such/model/"):
        connector.prepare_directory(uri, str(tmp_path / "m"), cache_dir=str(tmp_path / "c"))


def test_one_directory_per_process(emu, bucket, connector, toy_model, tmp_path, cred_file,
                                   config_file):
    from ossmodelconnector import OssModelConnector

    m = toy_model
    connector.prepare_directory(m["uri"], str(m["dir"]), True, small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
    other = OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file)
    try:
        with pytest.raises(OSError, match="already serves"):
            other.prepare_directory(m["uri"], str(tmp_path / "second"), small_file_size=SMALL,
                                    cache_dir=str(m["cache"]))
        assert tensor_digests(m["dir"]) == tensor_digests(m["local"])  # first one unharmed
        connector.close()
        other.prepare_directory(m["uri"], str(tmp_path / "second"), small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
        assert tensor_digests(tmp_path / "second") == tensor_digests(m["local"])
    finally:
        other.close()


def test_bad_arguments(connector, toy_model):
    m = toy_model
    with pytest.raises(ValueError, match="lazy"):
        connector.prepare_directory(m["uri"], str(m["dir"]), lazy=True)
    with pytest.raises(ValueError, match="memory_limit"):
        connector.prepare_directory(m["uri"], str(m["dir"]), True, memory_limit=-5)
    with pytest.raises(ValueError, match="release_delay"):
        connector.prepare_directory(m["uri"], str(m["dir"]), True, release_delay=-1)
    with pytest.raises(ValueError):
        connector.prepare_directory("s3://x/y", str(m["dir"]))
    assert not m["dir"].exists()


@pytest.mark.parametrize("name,value", [("OSSC_RELEASE_DELAY", "soon"),
                                        ("OSSC_PREFETCH_WINDOW", "wide")])
def test_bad_environment_knob(connector, toy_model, monkeypatch, name, value):
    m = toy_model
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        connector.prepare_directory(m["uri"], str(m["dir"]), True)


# ------------------------------------------------------------ processes

PREPARE_AND_HASH = """
import hashlib, json, os, sys
from ossmodelconnector import OssModelConnector
endpoint, cred, cfg, uri, model_dir, cache, hooks = sys.argv[1:8]
c = OssModelConnector(endpoint, cred_path=cred, config_path=cfg)
c.prepare_directory(uri, model_dir, hooks == "1", small_file_size=65536, cache_dir=cache)
out = {}
for name in sorted(os.listdir(model_dir)):
    if name.endswith(".safetensors"):
        out[name] = hashlib.sha256(open(os.path.join(model_dir, name), "rb").read()).hexdigest()
c.close()
print(json.dumps(out))
"""


@pytest.mark.parametrize("hooks", ["0", "1"])
def test_second_process_shares_the_cache(emu, bucket, connector, toy_model, cred_file,
                                         config_file, hooks):
    m = toy_model
    connector.prepare_directory(m["uri"], str(m["dir"]), small_file_size=SMALL,
                                cache_dir=str(m["cache"]))
    total = sum(len(v) for v in m["files"].values())
    assert served_bytes(emu, bucket, m["prefix"]) == total
    out = subprocess.run([sys.executable, "-c", PREPARE_AND_HASH, emu.endpoint, cred_file,
                          config_file, m["uri"], str(m["dir"]), str(m["cache"]), hooks],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    want = {k: hashlib.sha256(v).hexdigest() for k, v in m["files"].items()
            if k.endswith(".safetensors")}
    assert json.loads(out.stdout) == want
    assert served_bytes(emu, bucket, m["prefix"]) == total  # fetched once for both
    # The other process's close() left our directory intact.
    assert tensor_digests(m["dir"]) == tensor_digests(m["local"])


INTERRUPTED = """
import sys
import traceback
from ossmodelconnector import OssModelConnector
endpoint, cred, cfg, uri, model_dir, cache = sys.argv[1:7]
c = OssModelConnector(endpoint, cred_path=cred, config_path=cfg)
try:
    c.prepare_directory(uri, model_dir, small_file_size=65536, cache_dir=cache)
except KeyboardInterrupt:
    traceback.print_exc()  # where it landed: the test's diagnostics
    print("interrupted", len(c._connector.directories))
"""


def test_interrupt_ends_what_it_started(emu, bucket, toy_model, cred_file, config_file):
    m = toy_model
    emu.faults.delay(3.0, count=10_000, bucket=bucket, key_prefix=m["prefix"] + "model-",
                     method="GET")
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTED, emu.endpoint, cred_file,
                             config_file, m["uri"], str(m["dir"]), str(m["cache"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Ctrl-C once the fetch is under way (a data file in the cache; every
    # model GET is held 3 s by the server), whatever the load.
    deadline = time.monotonic() + 120
    while not glob.glob(os.path.join(str(m["cache"]), "ossc-*", "data.*")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)  # polling interval of the wait, not a stand-in for it
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.split() == ["interrupted", "0"]
    assert os.listdir(m["cache"]) == [], stderr[-3000:]  # the cache went with the only user
    assert not any(n.endswith(".safetensors") for n in os.listdir(m["dir"])), stderr[-3000:]


SIGNAL_DURING_NATIVE_CALL = """
import signal
import sys
import traceback
from ossconnector.model import _directory
from ossmodelconnector import OssModelConnector
endpoint, cred, cfg, uri, model_dir, cache, hooks, call = sys.argv[1:9]
real = _directory.lib


class SignalDuringCall:
    # Ctrl-C arriving while the C function runs: CPython raises
    # KeyboardInterrupt right where the call returns, as here.
    def __getattribute__(self, name):
        if name != call:
            return getattr(real, name)

        def signalled(*args):
            rc = getattr(real, name)(*args)
            signal.raise_signal(signal.SIGINT)
            return rc
        return signalled


_directory.lib = SignalDuringCall()
c = OssModelConnector(endpoint, cred_path=cred, config_path=cfg)
try:
    c.prepare_directory(uri, model_dir, hooks == "hooks", small_file_size=65536, cache_dir=cache)
    print("not interrupted")
except KeyboardInterrupt:
    traceback.print_exc()
    import os
    print("interrupted", len(c._connector.directories), len(os.listdir(cache)))
_directory.lib = real
c.close()
"""


@pytest.mark.parametrize("mode", ["links", "hooks"])
def test_interrupt_as_the_session_opens_ends_it(emu, bucket, toy_model, cred_file, config_file,
                                                mode):
    """SIGINT arriving while ossc_dir_prepare runs (what a loaded machine
    does to Ctrl-C): the KeyboardInterrupt must not lose the session the
    call just opened."""
    m = toy_model
    out = subprocess.run([sys.executable, "-c", SIGNAL_DURING_NATIVE_CALL, emu.endpoint,
                          cred_file, config_file, m["uri"], str(m["dir"]), str(m["cache"]),
                          mode, "ossc_dir_prepare"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    # Ended at once (no directory, no cache entry), not at some later exit.
    assert out.stdout.split() == ["interrupted", "0", "0"], out.stderr[-3000:]
    assert os.listdir(m["cache"]) == [], out.stderr[-3000:]
    assert not any(n.endswith(".safetensors") for n in os.listdir(m["dir"])), out.stderr[-3000:]


def test_garbage_collection_removes_hooks(emu, bucket, toy_model, cred_file, config_file):
    import gc

    from ossmodelconnector import OssModelConnector

    m = toy_model
    slot = got_entries(rust_library(), "open64")[0]
    c = OssModelConnector(emu.endpoint, cred_path=cred_file, config_path=config_file)
    c.prepare_directory(m["uri"], str(m["dir"]), True, small_file_size=SMALL,
                        cache_dir=str(m["cache"]))
    assert read_pointer(slot) != libc_function("open64")
    del c
    gc.collect()
    assert read_pointer(slot) == libc_function("open64")
    assert os.listdir(m["cache"]) == []


EXIT_WITHOUT_CLOSE = """
import sys
from ossmodelconnector import OssModelConnector
endpoint, cred, cfg, uri, model_dir, cache = sys.argv[1:7]
c = OssModelConnector(endpoint, cred_path=cred, config_path=cfg)
c.prepare_directory(uri, model_dir, True, small_file_size=65536, cache_dir=cache)
f = open(model_dir + "/model-00001-of-00003.safetensors", "rb")
print(len(f.read(100)))
"""


def test_exit_without_close_cleans_up(emu, bucket, toy_model, cred_file, config_file):
    m = toy_model
    out = subprocess.run([sys.executable, "-c", EXIT_WITHOUT_CLOSE, emu.endpoint, cred_file,
                          config_file, m["uri"], str(m["dir"]), str(m["cache"])],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "100"
    assert os.listdir(m["cache"]) == []


def test_refused_under_ld_preload(emu, bucket, toy_model, tmp_path):
    from preload_helpers import preload_env, run

    m = toy_model
    env = preload_env(emu, bucket, m["prefix"], m["dir"], m["cache"])
    code = f"""
import os
import signal
from ossmodelconnector import OssModelConnector
c = OssModelConnector(os.environ["OSS_ENDPOINT"])
try:
    c.prepare_directory({m["uri"]!r}, {str(tmp_path / "other")!r})
except OSError as e:
    print("refused:", e)
"""
    out = run(code, env).stdout
    assert "refused:" in out and "LD_PRELOAD" in out
