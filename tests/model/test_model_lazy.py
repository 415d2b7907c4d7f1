"""Lazy loading and idle release (a Stable-Diffusion-style directory of many
models): prepared at once, a model's bytes fetched only when it is opened,
released after the idle time and fetched again on next use."""

import gc
import os
import time

import torch

from preload_helpers import served_bytes, upload

PREFIX = "sd/Stable-diffusion/"
NAMES = ["anime.safetensors", "photo.safetensors", "sketch.safetensors"]


def make_models(tmp_path):
    from safetensors.torch import save_file

    tmp_path.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, name in enumerate(NAMES):
        g = torch.Generator().manual_seed(i)
        path = tmp_path / name
        save_file({"unet.w": torch.randn(300, 700, generator=g),
                   "vae.b": torch.arange(5000 + i, dtype=torch.int64)}, str(path))
        files[name] = path.read_bytes()
    files["README.txt"] = b"three checkpoints\n"
    return files


def load(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def object_bytes(emu, bucket, name):
    return served_bytes(emu, bucket, PREFIX + name)


def data_file(cache_root, index):
    (d,) = [e for e in os.listdir(cache_root) if e.startswith("ossc-")]
    return os.path.join(cache_root, d, f"data.{index}")


def wait_released(path, timeout=120.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.stat(path).st_blocks == 0:
            return True
        time.sleep(0.2)
    return False


def check_lazy_cycle(emu, bucket, model_dir, cache, files):
    sizes = {n: len(files[n]) for n in NAMES}
    time.sleep(1.0)  # nothing is prefetched in the background
    assert [object_bytes(emu, bucket, n) for n in NAMES] == [0, 0, 0]
    assert sorted(os.listdir(model_dir)) == sorted([".ossc-manifest", "README.txt"] + NAMES)

    ref = load(model_dir.parent / "local" / "photo.safetensors")
    got = load(model_dir / "photo.safetensors")
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert object_bytes(emu, bucket, "photo.safetensors") == sizes["photo.safetensors"]
    assert object_bytes(emu, bucket, "anime.safetensors") == 0
    assert object_bytes(emu, bucket, "sketch.safetensors") == 0
    del got
    gc.collect()

    # Unused for the release delay: its memory goes back.
    photo = data_file(cache, NAMES.index("photo.safetensors"))
    assert os.stat(photo).st_blocks > 0
    assert wait_released(photo), "photo.safetensors was not released after the idle time"

    # Used again: fetched again, same tensors.
    got = load(model_dir / "photo.safetensors")
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert object_bytes(emu, bucket, "photo.safetensors") == 2 * sizes["photo.safetensors"]
    assert object_bytes(emu, bucket, "sketch.safetensors") == 0


def test_lazy_loading_and_idle_release(emu, bucket, connector, tmp_path):
    files = make_models(tmp_path / "local")
    upload(emu, bucket, PREFIX, files)
    emu.reset_stats()
    model_dir = tmp_path / "Stable-diffusion"
    t = time.time()
    connector.prepare_directory(f"oss://{bucket}/{PREFIX}", str(model_dir), libc_hook=True,
                                lazy=True, release_delay=1, small_file_size=64 * 1024,
                                cache_dir=str(tmp_path / "cache"))
    assert time.time() - t < 1.0
    check_lazy_cycle(emu, bucket, model_dir, str(tmp_path / "cache"), files)


def test_lazy_knobs_from_the_environment(emu, bucket, connector, tmp_path, monkeypatch):
    files = make_models(tmp_path / "local")
    upload(emu, bucket, PREFIX, files)
    emu.reset_stats()
    monkeypatch.setenv("OSSC_LAZY", "1")
    monkeypatch.setenv("OSSC_RELEASE_DELAY", "1")
    monkeypatch.setenv("OSSC_SMALL_FILE_SIZE", "64K")
    monkeypatch.setenv("OSSC_CACHE_DIR", str(tmp_path / "cache"))
    model_dir = tmp_path / "Stable-diffusion"
    connector.prepare_directory(f"oss://{bucket}/{PREFIX}", str(model_dir), True)
    check_lazy_cycle(emu, bucket, model_dir, str(tmp_path / "cache"), files)


def test_eager_hooks_prefetch_everything(emu, bucket, connector, tmp_path):
    files = make_models(tmp_path / "local")
    upload(emu, bucket, PREFIX, files)
    emu.reset_stats()
    connector.prepare_directory(f"oss://{bucket}/{PREFIX}", str(tmp_path / "m"), True,
                                small_file_size=64 * 1024, cache_dir=str(tmp_path / "cache"))
    deadline = time.time() + 120
    while time.time() < deadline and any(
            object_bytes(emu, bucket, n) < len(files[n]) for n in NAMES):
        time.sleep(0.1)
    assert [object_bytes(emu, bucket, n) for n in NAMES] == [len(files[n]) for n in NAMES]
