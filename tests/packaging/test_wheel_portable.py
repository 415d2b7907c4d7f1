"""The portable wheel (packaging/manylinux/): its tag, what its library
needs and exports, and that it works where libcurl, libxml2, jansson,
hiredis, libmicrohttpd and OpenSSL are absent.

"Absent" is a mount namespace (unshare -m, root only) in which every file of
those libraries under the system's library directories is covered by a bind
mount of /dev/null: the dynamic loader still finds them by name and fails to
load them, which is exactly what a dependency on them would hit.  Only the
client runs there; the emulator runs in this process's environment.  A
separate test runs, outside the namespace, a Python program that uses its
own OpenSSL (ssl, hashlib, an https request to a local server with a
self-signed certificate) with the wheel's library preloaded: the OpenSSL
linked into that library must stay private."""

from __future__ import annotations

import glob
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import venv
import zipfile

import pytest

HIDDEN = ("libcurl", "libssl", "libcrypto", "libxml2", "libjansson", "libhiredis",
          "libmicrohttpd")
LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib",
            "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")
# What a manylinux wheel may need from the system (PEP 600's glibc set).
GLIBC_LIBS = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
              "ld-linux-x86-64.so.2"}


def run(cmd, env=None, check=True, timeout=600, **kw):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\n"
                             f"stderr:\n{proc.stderr[-4000:]}")
    return proc


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "OSS_CONNECTOR_CONFIG",
                        "LD_PRELOAD", "LD_LIBRARY_PATH")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(dist):
    assert dist["wheel"], f"no wheel in {dist['dir']}"
    return dist["wheel"]


@pytest.fixture(scope="module")
def wheel_lib(wheel, tmp_path_factory):
    """The wheel's libossc_preload.so, extracted."""
    d = tmp_path_factory.mktemp("wheel-lib")
    with zipfile.ZipFile(wheel) as z:
        z.extract("ossconnector/libossc_preload.so", d)
    return str(d / "ossconnector" / "libossc_preload.so")


def test_wheel_is_manylinux_abi3(wheel):
    name = os.path.basename(wheel)
    assert re.fullmatch(r"ossconnector-[^-]+-cp39-abi3-manylinux_2_(\d+)_x86_64\.whl", name), name
    assert int(re.search(r"manylinux_2_(\d+)", name).group(1)) <= 28, name
    # auditwheel names the most compatible tag the symbol versions allow.
    shown = " ".join(run([sys.executable, "-m", "auditwheel", "show", wheel]).stdout.split())
    m = re.search(r'consistent with the following platform tag: "manylinux_2_(\d+)_x86_64"', shown)
    assert m and int(m.group(1)) <= 28, shown


def test_library_needs_only_glibc_and_exports_only_ours(wheel_lib):
    dyn = run(["readelf", "-dW", wheel_lib]).stdout
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn))
    assert needed and needed <= GLIBC_LIBS, needed
    # The bundled libraries' symbols stay private: none is exported.
    syms = run(["nm", "-D", "--defined-only", wheel_lib]).stdout.split("\n")
    names = {line.split()[-1].split("@")[0] for line in syms if line.strip()}
    foreign = sorted(n for n in names
                     if re.match(r"(curl_|Curl_|EVP_|SSL_|OPENSSL_|CRYPTO_|BIO_|X509_|HMAC|"
                                 r"SHA\d|MD5|RAND_|ERR_|xml|json_|jansson|redis|MHD_|sds)", n))
    assert not foreign, foreign[:20]
    assert "open" in names and "ossc_client_new" in names


def _hidden_files():
    files = set()
    for d in LIB_DIRS:
        for stem in HIDDEN:
            for path in glob.glob(os.path.join(d, stem + "*.so*")):
                files.add(os.path.realpath(path))
    return sorted(f for f in files if os.path.isfile(f))


HIDE_AND_RUN = r"""
set -eu
while [ "$1" != -- ]; do
    mount --bind "$1" "$2"
    shift 2
done
shift
exec "$@"
"""


def in_namespace(cmd, env, cwd, timeout=600, check=True, binds=()):
    """Runs cmd in a mount namespace of its own in which the libraries are
    covered (and each (source, target) of binds mounted); raises (or
    returns, check=False) the completed process."""
    pairs = [x for f in _hidden_files() for x in ("/dev/null", f)]
    pairs += [x for pair in binds for x in pair]
    return run(["unshare", "-m", "--propagation", "private", "sh", "-c", HIDE_AND_RUN, "sh",
                *pairs, "--", *cmd], env=env, cwd=cwd, timeout=timeout, check=check)


needs_namespace = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"),
    reason="hiding the system's libraries needs root and unshare(1)")


@pytest.fixture(scope="module")
def wheelhouse(wheel, tmp_path_factory):
    """The wheel and its dependencies (cffi, pycparser) as files, so that pip
    in the namespace installs without an index."""
    d = tmp_path_factory.mktemp("wheelhouse")
    shutil.copy(wheel, d)
    run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
         "--only-binary=:all:", "-d", str(d), "cffi>=1.15"], env=clean_env())
    return str(d)


@pytest.fixture(scope="module")
def hidden_venv(wheelhouse, tmp_path_factory):
    """A fresh venv, the wheel installed into it inside the namespace."""
    root = tmp_path_factory.mktemp("hidden-venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(str(root))
    py = str(root / "bin" / "python")
    in_namespace([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                  "--find-links", wheelhouse, "ossconnector"], clean_env(), cwd=str(root))
    return root


ROUND_TRIP = r"""
import ctypes, json, os, sys
args = json.loads(sys.argv[1])
for name in ("libcurl.so.4", "libcrypto.so.3", "libssl.so.3", "libxml2.so.2", "libjansson.so.4"):
    if not args["hidden"]:
        break
    try:
        ctypes.CDLL(name)
    except OSError:
        pass
    else:
        raise AssertionError(f"{name} loads: the namespace does not hide it")

import ossconnector, ossconnector.preload
from ossconnector import Client
assert ossconnector.__file__.startswith(sys.prefix), ossconnector.__file__
c = Client(args["endpoint"], cred_path=args["cred"], config_path=args["config"])
data = os.urandom(3 * (1 << 20) + 4321)
base = f"oss://{args['bucket']}/portable/"
c.put(base + "a.bin", data)
with c.create(base + "b.bin") as w:
    w.write(data[:1000])
assert c.get(base + "a.bin") == data
assert c.get(base + "b.bin") == data[:1000]
with c.open(base + "a.bin") as r:
    r.seek(1 << 20)
    assert r.read(5000) == data[1 << 20:(1 << 20) + 5000]
assert sorted(e.key for e in c.list(base)) == ["portable/a.bin", "portable/b.bin"]
c.close()
print("round trip ok")
"""


@needs_namespace
def test_round_trip_without_system_libraries(hidden_venv, emu, bucket, cred_file, config_file,
                                             tmp_path):
    py = str(hidden_venv / "bin" / "python")
    args = json.dumps({"endpoint": emu.endpoint, "cred": cred_file, "config": config_file,
                       "bucket": bucket, "hidden": True})
    out = in_namespace([py, "-c", ROUND_TRIP, args], clean_env(), cwd=str(tmp_path)).stdout
    assert "round trip ok" in out


TORCH_PARTS = r"""
import json, sys
import torch
import ossconnector
from ossconnector import Client
from ossconnector.datasets import OssIterableDataset, OssMapDataset
from ossconnector.checkpoint import OssCheckpoint
args = json.loads(sys.argv[1])
assert ossconnector.__file__.startswith(sys.prefix), ossconnector.__file__
conn = dict(cred_path=args["cred"], config_path=args["config"])
base = f"oss://{args['bucket']}/portable-torch/"
c = Client(args["endpoint"], **conn)
expected = [(f"{base}ds/{i}.bin", bytes([i]) * (1000 + i)) for i in range(5)]  # (uri, bytes)
for uri, data in expected:
    c.put(uri, data)
c.close()

pair = lambda obj: (obj.key, obj.read())
ds = OssMapDataset.from_prefix(base + "ds/", args["endpoint"], transform=pair, **conn)
assert [ds[i] for i in range(len(ds))] == expected
it = OssIterableDataset.from_prefix(base + "ds/", args["endpoint"], transform=pair, **conn)
assert sorted(it) == expected

ckpt = OssCheckpoint(args["endpoint"], **conn)
state = {"w": torch.arange(300_000, dtype=torch.float32), "step": 7}
with ckpt.writer(base + "ckpt/epoch.1") as w:
    torch.save(state, w)
with ckpt.reader(base + "ckpt/epoch.1") as r:
    back = torch.load(r)
assert torch.equal(back["w"], state["w"]) and back["step"] == 7
print("torch parts ok")
"""


@needs_namespace
def test_datasets_and_checkpoints_without_system_libraries(wheel, emu, bucket, cred_file,
                                                           config_file, tmp_path):
    """Datasets and checkpoints (torch from the system's site-packages: the
    wheel does not bring it) with the libraries hidden."""
    pytest.importorskip("torch")
    root = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=True).create(str(root))
    py = str(root / "bin" / "python")
    # --ignore-installed: a development install in the system's site-packages
    # must not satisfy the requirement.
    in_namespace([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-index",
                  "--no-deps", "--ignore-installed", wheel], clean_env(), cwd=str(tmp_path))
    args = json.dumps({"endpoint": emu.endpoint, "cred": cred_file, "config": config_file,
                       "bucket": bucket})
    out = in_namespace([py, "-c", TORCH_PARTS, args], clean_env(), cwd=str(tmp_path)).stdout
    assert "torch parts ok" in out


def _other_cpythons():
    """The oldest and the newest CPython >= 3.9 on this machine other than the
    one running the tests (pyenv's, python3.X on PATH): about 40 s each."""
    found = {}
    candidates = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    candidates += [p for p in (shutil.which(f"python3.{m}") for m in range(9, 20)) if p]
    for exe in candidates:
        proc = subprocess.run([exe, "-c", "import sys; print(sys.version_info[1])"],
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            minor = int(proc.stdout)
            if minor >= 9 and minor != sys.version_info[1]:
                found.setdefault(minor, exe)
    minors = sorted(found)
    return [found[m] for m in sorted({minors[0], minors[-1]})] if minors else []


@pytest.mark.parametrize("interpreter", _other_cpythons() or [None])
def test_one_wheel_for_every_cpython(interpreter, wheel, emu, bucket, cred_file,
                                     config_file, tmp_path):
    """The cp39-abi3 wheel installs (cffi, per version, from the index) and
    works on each CPython >= 3.9 found."""
    if interpreter is None:
        pytest.skip("no other CPython >= 3.9 on this machine")
    root = tmp_path / "venv"
    run([interpreter, "-m", "venv", str(root)], env=clean_env())
    py = str(root / "bin" / "python")
    run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", wheel],
        env=clean_env())
    args = json.dumps({"endpoint": emu.endpoint, "cred": cred_file, "config": config_file,
                       "bucket": bucket, "hidden": False})
    assert "round trip ok" in run([py, "-c", ROUND_TRIP, args], env=clean_env(),
                                  cwd=str(tmp_path)).stdout


def _preload_env(lib, emu, bucket, tmp_path, prefix="m/"):
    cfg = tmp_path / "preload-config.json"
    cfg.write_text(json.dumps({"logPath": str(tmp_path / "c.log"),
                               "auditPath": str(tmp_path / "a.log")}))
    return clean_env(LD_PRELOAD=lib, ENABLE_CONNECTOR="1", OSS_ENDPOINT=emu.endpoint,
                     OSS_ACCESS_KEY_ID=emu.access_key_id,
                     OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
                     OSS_PATH=f"oss://{bucket}/{prefix}", MODEL_DIR=str(tmp_path / "model"),
                     OSSC_CACHE_DIR=str(tmp_path / "cache"), OSSC_SMALL_FILE_SIZE="64K",
                     OSS_CONNECTOR_CONFIG=str(cfg))


@needs_namespace
def test_preload_without_system_libraries(hidden_venv, emu, bucket, tmp_path):
    py = str(hidden_venv / "bin" / "python")
    lib = in_namespace([py, "-m", "ossconnector.preload"], clean_env(),
                       cwd=str(tmp_path)).stdout.strip()
    assert lib.startswith(str(hidden_venv)) and os.path.isfile(lib), lib
    weights = os.urandom(700_000)
    emu.put_object(bucket, "m/w.safetensors", weights)
    emu.put_object(bucket, "m/config.json", b"{}")
    env = _preload_env(lib, emu, bucket, tmp_path)
    out = in_namespace(["sha256sum", str(tmp_path / "model" / "w.safetensors")], env,
                       cwd=str(tmp_path)).stdout
    assert out.split()[0] == hashlib.sha256(weights).hexdigest()


# -- the application's own OpenSSL under LD_PRELOAD ---------------------------------

@pytest.fixture(scope="module")
def https_server(tmp_path_factory):
    """A local https server (self-signed certificate for 127.0.0.1) serving
    one known body; yields (url, cert path, body)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
         cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
         "subjectAltName=IP:127.0.0.1,DNS:localhost"])
    body = os.urandom(256 * 1024)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()

        def do_GET(self):
            self.do_HEAD()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/blob", cert, body
    server.shutdown()
    server.server_close()


APP_OPENSSL = r"""
import hashlib, hmac, json, ssl, sys, urllib.request
args = json.loads(sys.argv[1])
# The interposer at work in this process: a model file read through it.
with open(args["model_file"], "rb") as f:
    weights = f.read()
ctx = ssl.create_default_context(cafile=args["cert"])
with urllib.request.urlopen(args["url"], context=ctx, timeout=60) as r:
    body = r.read()
print(json.dumps({
    "openssl": ssl.OPENSSL_VERSION,
    "body_sha256": hashlib.sha256(body).hexdigest(),
    "body_md5": hashlib.md5(body).hexdigest(),
    "body_sha3": hashlib.sha3_256(body).hexdigest(),
    "hmac": hmac.new(b"k", body, "sha512").hexdigest(),
    "weights_sha256": hashlib.sha256(weights).hexdigest(),
}))
"""


def test_application_openssl_under_preload(wheel_lib, https_server, emu, bucket, tmp_path):
    url, cert, body = https_server
    weights = os.urandom(300_000)
    emu.put_object(bucket, "m/w.safetensors", weights)
    emu.put_object(bucket, "m/config.json", b"{}")
    args = json.dumps({"url": url, "cert": cert,
                       "model_file": str(tmp_path / "model" / "w.safetensors")})
    env = _preload_env(wheel_lib, emu, bucket, tmp_path)
    out = run([sys.executable, "-c", APP_OPENSSL, args], env=env, cwd=str(tmp_path)).stdout
    got = json.loads(out.strip().splitlines()[-1])
    assert got["openssl"] == ssl.OPENSSL_VERSION       # Python's own, not the bundled one
    assert got["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert got["body_md5"] == hashlib.md5(body).hexdigest()
    assert got["body_sha3"] == hashlib.sha3_256(body).hexdigest()
    assert got["hmac"] == hmac.new(b"k", body, "sha512").hexdigest()
    # MODEL_DIR exists only through the interposer: it served the file.
    assert got["weights_sha256"] == hashlib.sha256(weights).hexdigest()


# -- TLS through the bundled curl and OpenSSL ---------------------------------------

ENGINE_TLS = r"""
import json, sys
from ossconnector import Client
args = json.loads(sys.argv[1])
c = Client(args["endpoint"], cred_path=args["cred"], config_path=args["config"])
try:
    print(json.dumps({"size": len(c.get("oss://bucket/any/key"))}))
except OSError as e:
    print(json.dumps({"error": str(e)}))
"""


@needs_namespace
@pytest.mark.parametrize("trust", ["caFile", "none", "system-bundle", "SSL_CERT_FILE"])
def test_engine_tls_without_system_libraries(trust, hidden_venv, https_server, tmp_path):
    """The engine's https through the wheel's own libcurl and OpenSSL, the
    system's hidden, against a self-signed server: trusted through
    http.caFile, through the distribution's bundle that the engine probes
    for (here replaced by the server's certificate), or through
    $SSL_CERT_FILE; refused when nothing trusts it.  The server answers any
    GET with its body and checks no signature."""
    url, cert, body = https_server
    endpoint = url.rsplit("/", 1)[0]
    cred = tmp_path / "cred.json"
    cred.write_text(json.dumps({"AccessKeyId": "id", "AccessKeySecret": "secret"}))
    os.chmod(cred, 0o600)
    http_cfg = {"maxRetries": 0}
    if trust == "caFile":
        http_cfg["caFile"] = cert
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"http": http_cfg, "logPath": str(tmp_path / "c.log"),
                               "auditPath": str(tmp_path / "a.log")}))
    env = clean_env()
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    binds = []
    if trust == "SSL_CERT_FILE":
        env["SSL_CERT_FILE"] = cert
    if trust == "system-bundle":
        bundle = "/etc/ssl/certs/ca-certificates.crt"
        if not os.path.isfile(bundle):
            pytest.skip(f"no {bundle} to stand in for")
        binds.append((cert, bundle))
    args = json.dumps({"endpoint": endpoint, "cred": str(cred), "config": str(cfg)})
    out = in_namespace([str(hidden_venv / "bin" / "python"), "-c", ENGINE_TLS, args], env,
                       cwd=str(tmp_path), binds=binds).stdout
    got = json.loads(out.strip().splitlines()[-1])
    if trust == "none":
        assert "certificate" in got.get("error", ""), got
    else:
        assert got == {"size": len(body)}, got
