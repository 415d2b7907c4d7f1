"""The oss-connector-lib .deb and .rpm: names, contents, declared
dependencies, the conffile, an install with dpkg and an LD_PRELOAD load
from /usr/local/lib against the emulator, upgrades keeping edits, and clean
removal; the .rpm installed into a scratch root.

The dpkg test changes the machine (it installs and purges the package), so
it runs only as root, and only when the package is not installed already
and /etc/oss-connector does not exist (nothing of the user's is touched).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess

import pytest

LIB = "/usr/local/lib/libossc_preload.so"
CONFIG = "/etc/oss-connector/config.json"
LOG_DIR = "/var/log/oss-connector"
PKG = "oss-connector-lib"


def sh(*cmd, check=True, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n"
                             f"{proc.stderr}")
    return proc


def need(tool: str, why: str):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed ({why})")


@pytest.fixture
def deb(dist):
    need("dpkg-deb", "Debian's dpkg")
    assert dist["deb"], f"no oss-connector-lib_{dist['version']}_*.deb in {dist['dir']}"
    return dist["deb"]


@pytest.fixture
def rpm_file(dist):
    need("rpmbuild", "apt-get install rpm")
    assert dist["rpm"], f"no oss-connector-lib-{dist['version']}.*.rpm in {dist['dir']}"
    return dist["rpm"]


# -- .deb, read only ----------------------------------------------------------

def test_deb_name_contents_depends_conffile(deb, dist):
    assert os.path.basename(deb) == f"{PKG}_{dist['version']}_amd64.deb" or \
        os.path.basename(deb).startswith(f"{PKG}_{dist['version']}_")
    listing = sh("dpkg-deb", "-c", deb).stdout
    for path in (LIB, CONFIG, LOG_DIR + "/", f"/usr/share/doc/{PKG}/README",
                 f"/usr/share/doc/{PKG}/copyright", f"/usr/share/man/man7/{PKG}.7.gz"):
        assert f".{path}" in listing, path
    fields = {f: sh("dpkg-deb", "-f", deb, f).stdout.strip()
              for f in ("Package", "Version", "Architecture", "Depends")}
    assert fields["Package"] == PKG and fields["Version"] == dist["version"]
    for lib in ("libcurl4", "libssl3", "libxml2", "libjansson4", "libc6"):
        assert lib in fields["Depends"], fields["Depends"]
    assert sh("dpkg-deb", "--ctrl-tarfile", deb).returncode == 0
    conffiles = sh("bash", "-c", f"dpkg-deb --info '{deb}' conffiles").stdout.split()
    assert conffiles == [CONFIG]
    default = json.loads(sh("bash", "-c", f"dpkg-deb --fsys-tarfile '{deb}' | "
                            f"tar -xOf - .{CONFIG}").stdout)
    assert default["logPath"] == LOG_DIR + "/connector.log"
    assert default["prefetch"] == {"vcpus": 16, "workers": 16}


# -- .rpm ---------------------------------------------------------------------

def test_rpm_name_contents_requires_config(rpm_file, dist):
    assert os.path.basename(rpm_file) == f"{PKG}-{dist['version']}.x86_64.rpm" or \
        os.path.basename(rpm_file).startswith(f"{PKG}-{dist['version']}.")
    files = sh("rpm", "-qpl", rpm_file).stdout.split()
    for path in (LIB, CONFIG, LOG_DIR, f"/usr/share/doc/{PKG}/README",
                 f"/usr/share/man/man7/{PKG}.7.gz"):
        assert path in files, path
    requires = sh("rpm", "-qpR", rpm_file).stdout
    for soname in ("libcurl.so.4()(64bit)", "libcrypto.so.3()(64bit)", "libxml2.so.2()(64bit)",
                   "libjansson.so.4()(64bit)"):
        assert soname in requires, requires
    assert "CURL_OPENSSL" not in requires  # no Debian-only symbol versions
    assert sh("rpm", "-qpc", rpm_file).stdout.split() == [CONFIG]
    flags = dict(line.split(" ", 1) for line in sh(
        "rpm", "-qp", "--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]", rpm_file).stdout.splitlines())
    assert "c" in flags[CONFIG] and "n" in flags[CONFIG]  # %config(noreplace)


def test_rpm_scratch_root_install_upgrade_erase(rpm_file, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    rpm = ["rpm", "--root", str(root)]
    sh(*rpm, "--initdb")
    sh(*rpm, "-i", "--nodeps", "--noscripts", rpm_file)
    assert sh(*rpm, "-q", PKG).stdout.startswith(PKG)
    lib = root / LIB.lstrip("/")
    config = root / CONFIG.lstrip("/")
    assert lib.is_file() and lib.stat().st_size > 100_000
    assert json.loads(config.read_text())["logLevel"] == 1
    assert (root / LOG_DIR.lstrip("/")).is_dir()
    sh(*rpm, "-V", "--nodeps", "--noscripts", PKG)  # files as packaged

    # An upgrade (here: the same package again) keeps the user's edit.
    edited = json.loads(config.read_text())
    edited["logLevel"] = 3
    config.write_text(json.dumps(edited))
    sh(*rpm, "-U", "--replacepkgs", "--nodeps", "--noscripts", rpm_file)
    assert json.loads(config.read_text())["logLevel"] == 3

    # Logs the library wrote are %ghost files: erased with the package.
    (root / LOG_DIR.lstrip("/") / "connector.log").write_text("log line\n")
    sh(*rpm, "-e", "--nodeps", "--noscripts", PKG)
    assert sh(*rpm, "-q", PKG, check=False).returncode != 0
    assert not lib.exists()
    assert not (root / LOG_DIR.lstrip("/")).exists()
    # rpm keeps an edited config as .rpmsave, as it always does.
    assert not config.exists()
    assert json.loads((root / (CONFIG.lstrip("/") + ".rpmsave")).read_text())["logLevel"] == 3


# -- .deb installed on this machine ---------------------------------------------

@pytest.fixture
def installable_deb(deb):
    """The .deb, on a machine where installing and purging it is safe: root,
    the package not installed.  /etc/oss-connector and /var/log/oss-connector
    left by something else (e.g. the engine run as root by other tests) are
    moved aside for the test and put back afterwards."""
    if os.geteuid() != 0:
        pytest.skip("installing the .deb needs root (CI runs as root)")
    need("dpkg", "Debian's dpkg")
    status = sh("dpkg-query", "-W", "-f=${Status}", PKG, check=False).stdout
    if "installed" in status and "not-installed" not in status:
        pytest.skip(f"{PKG} is installed on this machine already; not touching it")
    if os.path.exists(LIB):
        pytest.skip(f"{LIB} exists (not from this test); not touching it")
    moved = []
    for path in ("/etc/oss-connector", LOG_DIR):
        saved = path + ".ossc-test-saved"
        if os.path.exists(saved):
            pytest.skip(f"{saved} exists: left by an interrupted run; move it back first")
        if os.path.exists(path):
            os.rename(path, saved)
            moved.append((saved, path))
    try:
        yield deb
    finally:
        sh("dpkg", "-P", PKG, check=False)
        for saved, path in moved:
            shutil.rmtree(path, ignore_errors=True)
            os.rename(saved, path)


def _weights(tmp_path):
    model = {
        "config.json": json.dumps({"model_type": "toy"}).encode(),
        "model-00001-of-00001.safetensors": os.urandom(1 << 20) + b"tail",
    }
    return model


def test_deb_install_preload_load_upgrade_remove_purge(installable_deb, emu, bucket, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OSS_CONNECTOR_CONFIG"}
    sh("dpkg", "-i", "--force-confold", installable_deb)
    assert os.path.isfile(LIB) and os.path.isfile(CONFIG) and os.path.isdir(LOG_DIR)
    assert os.path.isfile(f"/usr/share/doc/{PKG}/README")

    # LD_PRELOAD from the installed path, with the installed default config.
    model = _weights(tmp_path)
    for name, data in model.items():
        emu.put_object(bucket, "models/toy/" + name, data)
    model_dir = tmp_path / "model"
    env.update(LD_PRELOAD=LIB, ENABLE_CONNECTOR="1", OSS_ENDPOINT=emu.endpoint,
               OSS_ACCESS_KEY_ID=emu.access_key_id, OSS_ACCESS_KEY_SECRET=emu.access_key_secret,
               OSS_PATH=f"oss://{bucket}/models/toy/", MODEL_DIR=str(model_dir),
               OSSC_CACHE_DIR=str(tmp_path / "cache"), OSSC_SMALL_FILE_SIZE="64K")
    proc = sh("bash", "-c", f"cd '{model_dir}' && stat -c '%n %s %b' *.safetensors && "
              "sha256sum config.json *.safetensors", env=env)
    sums = dict(reversed(line.split("  ")) for line in proc.stdout.splitlines()[1:])
    for name, data in model.items():
        assert sums[name] == hashlib.sha256(data).hexdigest(), name
    name, size, blocks = proc.stdout.splitlines()[0].split()
    assert int(size) == len(model[name])
    assert int(blocks) * 512 < len(model[name]) // 2, "the weights should be a sparse placeholder"
    assert os.path.exists(os.path.join(LOG_DIR, "connector.log")), "the default logPath is used"

    # Reinstalling (an upgrade with the same shipped conffile) keeps an edit.
    with open(CONFIG) as f:
        edited = json.load(f)
    edited["logLevel"] = 2
    with open(CONFIG, "w") as f:
        json.dump(edited, f)
    sh("dpkg", "-i", installable_deb)
    with open(CONFIG) as f:
        assert json.load(f)["logLevel"] == 2

    # Remove: the library goes, configuration and logs stay (Debian's rule) ...
    sh("dpkg", "-r", PKG)
    assert not os.path.exists(LIB)
    assert not os.path.exists(f"/usr/share/doc/{PKG}")
    assert os.path.isfile(CONFIG)
    # ... purge: nothing is left.
    sh("dpkg", "-P", PKG)
    for path in (CONFIG, "/etc/oss-connector", LOG_DIR):
        assert not os.path.exists(path), path
    status = sh("dpkg-query", "-W", "-f=${Status}", PKG, check=False)
    assert status.returncode != 0 or "not-installed" in status.stdout
