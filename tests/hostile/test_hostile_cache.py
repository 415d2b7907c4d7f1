"""Hostile cache directories: another user pre-creates our predictable
cache directory, plants it (or the cache root) as a symlink, or fills a
directory with symlinks named state, lock and data.0.  A load as root must
refuse with a clear message, the application must see no model (ENOENT,
non-zero exit), and the victim's files must stay byte for byte, with
nothing created among them."""

import os

import pytest

from preload_helpers import preload_env, run, upload_toy_model

WEIGHT = "model-00001-of-00003.safetensors"


def fnv1a(text):
    h = 1469598103934665603
    for b in text.encode():
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def cache_name(model_dir):
    return f"ossc-{os.getuid()}-{fnv1a(os.path.realpath(model_dir)):016x}"


@pytest.fixture
def scene(emu, bucket, tmp_path):
    """A toy model, a sticky shared cache root (like /dev/shm) the other
    user can write in, and a victim directory of root's with one file."""
    os.chmod(tmp_path, 0o755)
    m = upload_toy_model(emu, bucket, tmp_path)
    root = tmp_path / "shared-root"
    root.mkdir()
    os.chmod(root, 0o1777)
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)  # private: what the attack goes after
    (victim / "important.txt").write_bytes(b"root's precious bytes\n")
    os.chmod(victim / "important.txt", 0o600)
    model_dir = tmp_path / "model"
    env = preload_env(emu, bucket, m["prefix"], model_dir, root)
    return {"root": root, "victim": victim, "model_dir": model_dir, "env": env,
            "planted": root / cache_name(model_dir)}


def snapshot(d):
    return {n: (d / n).read_bytes() if (d / n).is_file() else None
            for n in sorted(os.listdir(d))}


def load_as_root(s):
    return run(["sh", "-c", 'exec cat "$0" >/dev/null', str(s["model_dir"] / WEIGHT)], s["env"],
               check=False)


def assert_refused(proc, s, *words):
    assert proc.returncode != 0, proc.stderr
    assert "No such file or directory" in proc.stderr, proc.stderr
    assert "oss-connector:" in proc.stderr and "refusing to use it" in proc.stderr, proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_cache_dir_precreated_by_other_user(other_user, scene):
    s = scene
    other_user.run(["mkdir", "-m", "0700", str(s["planted"])])
    proc = load_as_root(s)
    assert_refused(proc, s, str(s["planted"]), f"belongs to uid {other_user.uid}")
    assert os.listdir(s["planted"]) == []
    assert os.stat(s["planted"]).st_uid == other_user.uid


def test_cache_dir_planted_as_symlink_to_victim(other_user, scene):
    s = scene
    before = snapshot(s["victim"])
    other_user.run(["ln", "-s", str(s["victim"]), str(s["planted"])])
    proc = load_as_root(s)
    assert_refused(proc, s, str(s["planted"]), "symlink")
    assert snapshot(s["victim"]) == before
    assert os.path.islink(s["planted"])


@pytest.mark.parametrize("owner", ["other", "root-but-open"])
def test_symlinks_for_state_lock_and_data_inside(other_user, scene, owner):
    """A directory by our name holding symlinks into the victim's directory:
    another user's, or ours but open to others (mode 0777)."""
    s = scene
    victim = s["victim"]
    before = snapshot(victim)
    if owner == "other":
        other_user.run(["mkdir", "-m", "0777", str(s["planted"])])
    else:
        s["planted"].mkdir()
        os.chmod(s["planted"], 0o777)
    for name, target in [("state", victim / "state"), ("lock", victim / "lock"),
                         ("data.0", victim / "important.txt")]:
        other_user.run(["ln", "-s", str(target), str(s["planted"] / name)])
    proc = load_as_root(s)
    why = f"belongs to uid {other_user.uid}" if owner == "other" else "mode 0777"
    assert_refused(proc, s, str(s["planted"]), why)
    assert snapshot(victim) == before


def test_cache_root_is_a_symlink(other_user, scene, tmp_path):
    s = scene
    before = snapshot(s["victim"])
    link = tmp_path / "shared-root" / "root-link"
    other_user.run(["ln", "-s", str(s["victim"]), str(link)])
    s["env"]["OSSC_CACHE_DIR"] = str(link)
    proc = load_as_root(s)
    assert_refused(proc, s, str(link), "symlink")
    assert snapshot(s["victim"]) == before


def test_cache_root_writable_by_others_and_not_sticky(scene, tmp_path):
    s = scene
    root = tmp_path / "open-root"
    root.mkdir()
    os.chmod(root, 0o777)
    s["env"]["OSSC_CACHE_DIR"] = str(root)
    proc = load_as_root(s)
    assert_refused(proc, s, str(root), "not sticky")
    assert os.listdir(root) == []


def test_load_in_shared_sticky_root_works(scene):
    """The same sticky root, nothing planted: the load works."""
    s = scene
    proc = run(["python3", "-c",
                "import os,sys; d=os.environ['MODEL_DIR']; "
                f"sys.stdout.write(str(len(open(d + '/{WEIGHT}', 'rb').read())))"],
               s["env"])
    assert int(proc.stdout) > 0


def test_cache_root_of_another_user_is_refused(other_user, scene):
    """A cache root another user owns (its owner may rename any entry in it,
    sticky bit or not) is refused, naming its owner; nothing is created."""
    s = scene
    theirs = s["root"] / "their-root"
    other_user.run(["mkdir", "-m", "0755", str(theirs)])
    s["env"]["OSSC_CACHE_DIR"] = str(theirs)
    proc = load_as_root(s)
    assert_refused(proc, s, str(theirs), f"belongs to uid {other_user.uid}")
    assert os.listdir(theirs) == []
