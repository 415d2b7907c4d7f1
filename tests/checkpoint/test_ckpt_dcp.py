"""PyTorch Distributed Checkpoint on OSS: DCP.save / async_save / load in
one process and with two gloo ranks, atomic commit of .metadata, cleanup of
superseded data objects, coalesced concurrent reads, interoperability with
torch's own FileSystemWriter/Reader, and bad input."""

import os
import pickle
import re
import warnings

import oss2
import pytest
import torch
import torch.distributed.checkpoint as DCP
import torch.multiprocessing as mp
from torch.distributed.checkpoint import CheckpointException, FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint.storage import StorageReader, StorageWriter

from osstorchconnector import OssFileSystem

import ckpt_dcp_worker

MiB = 1 << 20

pytestmark = pytest.mark.filterwarnings(
    "ignore:torch.distributed is disabled:UserWarning",
    "ignore:Detected an existing checkpoint:UserWarning")


@pytest.fixture
def fs(emu, cred_file, config_file):
    return OssFileSystem(emu.endpoint, cred_path=cred_file, config_path=config_file)


def model_state(seed=0, n=8):
    g = torch.Generator().manual_seed(seed)
    sd = {f"block{i}.weight": torch.randn(256, 256 + i, generator=g) for i in range(n)}
    sd.update({f"block{i}.norm": torch.randn(256, generator=g) for i in range(n)})
    sd["embed"] = torch.randn(1000, 64, generator=g).to(torch.bfloat16)
    sd["counter"] = torch.tensor(7)
    sd["epoch"] = 3
    sd["sched"] = {"lr": 0.01, "milestones": [10, 20]}
    return sd


def assert_state_equal(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def keys(oss2b, prefix):
    return sorted(o.key for o in oss2.ObjectIterator(oss2b, prefix=prefix))


def data_keys(oss2b, prefix):
    return [k for k in keys(oss2b, prefix) if k.endswith(".distcp")]


def test_types_and_contract(fs, bucket):
    w = fs.writer(f"oss://{bucket}/ck")
    r = fs.reader(f"oss://{bucket}/ck/")
    assert isinstance(w, StorageWriter) and isinstance(r, StorageReader)
    assert w.checkpoint_id == f"oss://{bucket}/ck" == r.checkpoint_id
    assert OssFileSystem.validate_checkpoint_id(f"oss://{bucket}/ck")
    assert not OssFileSystem.validate_checkpoint_id("/local/dir")
    # Picklable, for process-based async checkpointing.
    assert pickle.loads(pickle.dumps(w)).checkpoint_id == w.checkpoint_id


def test_save_load_round_trip(fs, bucket, oss2b):
    sd = model_state()
    uri = f"oss://{bucket}/run/step-100"
    DCP.save(sd, storage_writer=fs.writer(uri))
    names = keys(oss2b, "run/step-100/")
    assert "run/step-100/.metadata" in names
    assert all(re.fullmatch(r"run/step-100/(\.metadata|__0_[0-9a-f]{12}_\d+\.distcp)", k)
               for k in names), names
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(sd, loaded)


def test_async_save(fs, bucket):
    sd = model_state(seed=1)
    uri = f"oss://{bucket}/async"
    future = DCP.async_save(state_dict=sd, storage_writer=fs.writer(uri))
    future.result()
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(sd, loaded)


def test_checkpoint_id_argument(fs, bucket):
    sd = model_state(seed=2)
    writer = fs.writer(f"oss://{bucket}/unused")
    DCP.save(sd, storage_writer=writer, checkpoint_id=f"oss://{bucket}/by-id")
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(f"oss://{bucket}/unused"),
             checkpoint_id=f"oss://{bucket}/by-id")
    assert_state_equal(sd, loaded)


@pytest.mark.parametrize("kwargs", [{"thread_count": 3}, {"single_file_per_rank": False},
                                    {"sync_files": True, "thread_count": 2}])
def test_writer_options(fs, bucket, oss2b, kwargs):
    sd = model_state(seed=3)
    uri = f"oss://{bucket}/opts"
    DCP.save(sd, storage_writer=fs.writer(uri, **kwargs))
    n_files = len(data_keys(oss2b, "opts/"))
    assert n_files == (kwargs.get("thread_count", 1) if kwargs.get("single_file_per_rank", True)
                       else sum(isinstance(v, torch.Tensor) for v in sd.values()) + 3)
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(sd, loaded)


def test_resave_replaces_and_cleans_up(fs, bucket, oss2b, emu):
    uri = f"oss://{bucket}/ck"
    DCP.save(model_state(seed=4), storage_writer=fs.writer(uri, thread_count=2))
    first = data_keys(oss2b, "ck/")
    emu.put_object(bucket, "ck/__0_0123456789ab_0.distcp", b"left by a crashed save")
    emu.put_object(bucket, "ck/notes.txt", b"not ours")
    emu.put_object(bucket, "ck/sub/__0_x_0.distcp", b"not directly under the checkpoint")
    new = model_state(seed=5)
    DCP.save(new, storage_writer=fs.writer(uri))
    now = data_keys(oss2b, "ck/")
    assert len(now) == 2 and not set(first) & set(now)   # one data object + ck/sub/...
    assert "ck/notes.txt" in keys(oss2b, "ck/")
    assert "ck/sub/__0_x_0.distcp" in now
    loaded = ckpt_dcp_worker.empty_like_state(new)
    DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(new, loaded)


def test_overwrite_false_refuses(fs, bucket):
    uri = f"oss://{bucket}/ck"
    DCP.save(model_state(), storage_writer=fs.writer(uri))
    with pytest.raises(CheckpointException, match="already exists"):
        DCP.save(model_state(), storage_writer=fs.writer(uri, overwrite=False))


def pending_uploads(oss2b):
    return [u.key for u in oss2.MultipartUploadIterator(oss2b)]


@pytest.mark.parametrize("fault", ["data_part", "data_complete", "metadata"])
def test_failed_save_keeps_previous_checkpoint(fs, bucket, oss2b, emu, fault):
    uri = f"oss://{bucket}/ck"
    old = model_state(seed=6, n=24)           # ~6 MiB: several 1 MiB parts
    DCP.save(old, storage_writer=fs.writer(uri))
    old_keys = keys(oss2b, "ck/")
    if fault == "data_part":
        emu.faults.fail_part(status=500, count=1000, bucket=bucket, key_prefix="ck/__",
                             part_number=2)
    elif fault == "data_complete":
        emu.faults.fail_complete(status=500, count=1000, bucket=bucket, key_prefix="ck/__")
    else:
        emu.faults.error(status=403, code="AccessDenied", count=1, bucket=bucket,
                         key="ck/.metadata", method="PUT")
    with pytest.raises((CheckpointException, OSError), match="HTTP 500|AccessDenied"):
        DCP.save(model_state(seed=7, n=24), storage_writer=fs.writer(uri))
    emu.faults.clear()
    assert keys(oss2b, "ck/") == old_keys
    assert pending_uploads(oss2b) == []
    loaded = ckpt_dcp_worker.empty_like_state(old)
    DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(old, loaded)


def test_rank_local_metadata(fs, bucket, oss2b):
    """use_collectives=False: __<rank>.metadata and rank-owned cleanup."""
    uri = f"oss://{bucket}/local"
    for seed in (11, 12):
        sd = model_state(seed=seed)
        DCP.save(sd, storage_writer=fs.writer(uri), use_collectives=False)
    names = keys(oss2b, "local/")
    assert "local/__0.metadata" in names and len(data_keys(oss2b, "local/")) == 1
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(uri))    # finds __0.metadata
    assert_state_equal(sd, loaded)


def test_reads_are_coalesced_and_concurrent(fs, bucket, emu):
    g = torch.Generator().manual_seed(8)
    sd = {f"t{i}": torch.randn(100 + i, generator=g) for i in range(400)}
    sd["big"] = torch.randn(5 * MiB, generator=g)    # 20 MiB: streamed into its storage
    uri = f"oss://{bucket}/many"
    DCP.save(sd, storage_writer=fs.writer(uri))
    (data_key,) = [e.key for e in fs.client.list(f"oss://{bucket}/many/")
                   if e.key.endswith(".distcp")]
    size = fs.client.stat(f"oss://{bucket}/{data_key}").size
    emu.reset_stats()
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(sd, loaded)
    stats = emu.object_stats(bucket, data_key)
    assert stats["GET"] < 60                  # 401 items
    # The big tensor's first and last 1 MiB blocks may overlap its
    # neighbours, which their batch fetches again: at most 2 MiB twice.
    assert stats["bytes_sent"] <= size + 2 * MiB


def test_partial_load(fs, bucket, emu):
    sd = model_state(seed=9)
    uri = f"oss://{bucket}/part"
    DCP.save(sd, storage_writer=fs.writer(uri))
    want = {"block3.weight": torch.zeros_like(sd["block3.weight"]), "epoch": None}
    DCP.load(want, storage_reader=fs.reader(uri))
    assert torch.equal(want["block3.weight"], sd["block3.weight"]) and want["epoch"] == 3


def test_interop_with_torch_filesystem(fs, bucket, tmp_path, client):
    """A checkpoint written by torch's FileSystemWriter and uploaded loads
    through ours, and ours downloaded loads with FileSystemReader."""
    sd = model_state(seed=10)
    local = tmp_path / "local-ckpt"
    DCP.save(sd, storage_writer=FileSystemWriter(str(local)))
    for name in os.listdir(local):
        client.put(f"oss://{bucket}/uploaded/{name}", (local / name).read_bytes())
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=fs.reader(f"oss://{bucket}/uploaded"))
    assert_state_equal(sd, loaded)

    DCP.save(sd, storage_writer=fs.writer(f"oss://{bucket}/ours"))
    down = tmp_path / "downloaded"
    down.mkdir()
    for e in client.list(f"oss://{bucket}/ours/"):
        (down / e.key.rsplit("/", 1)[-1]).write_bytes(client.get(e.uri))
    loaded = ckpt_dcp_worker.empty_like_state(sd)
    DCP.load(loaded, storage_reader=FileSystemReader(str(down)))
    assert_state_equal(sd, loaded)


def test_bad_input(fs, bucket, emu, cred_file):
    for bad in ["s3://bucket/ck", "/local/ck", "oss://", "oss://UPPER/ck"]:
        with pytest.raises(ValueError):
            fs.writer(bad)
        with pytest.raises(ValueError):
            fs.reader(bad)
    with pytest.raises(TypeError):
        fs.writer(42)
    with pytest.raises(CheckpointException, match=r"no such object: oss://\S+/missing/\.metadata"):
        DCP.load({"x": torch.zeros(1)}, storage_reader=fs.reader(f"oss://{bucket}/missing"))
    with pytest.raises(ValueError, match="endpoint"):
        OssFileSystem("")
    emu.put_object(bucket, "garbage/.metadata", b"not a pickle")
    with pytest.raises(CheckpointException, match=r"garbage/\.metadata: not a readable DCP"):
        DCP.load({"x": torch.zeros(1)}, storage_reader=fs.reader(f"oss://{bucket}/garbage"))


def test_size_mismatch_names_the_item(fs, bucket):
    DCP.save({"w": torch.zeros(4, 4)}, storage_writer=fs.writer(f"oss://{bucket}/m"))
    with pytest.raises(CheckpointException, match="Size mismatch.*for w"):
        DCP.load({"w": torch.zeros(5, 4)}, storage_reader=fs.reader(f"oss://{bucket}/m"))


@pytest.mark.parametrize("mode", ["save", "async_save"])
def test_two_gloo_ranks(emu, bucket, cred_file, config_file, tmp_path, oss2b, mode):
    uri = f"oss://{bucket}/dist/{mode}"
    init_file = str(tmp_path / "pg-init")
    mp.start_processes(ckpt_dcp_worker.run_rank, nprocs=2, join=True, start_method="spawn",
                       args=(2, init_file, emu.endpoint, cred_file, config_file, uri, mode))
    names = keys(oss2b, f"dist/{mode}/")
    ranks = {re.match(r".*/__(\d+)_", k).group(1) for k in names if k.endswith(".distcp")}
    assert ranks == {"0", "1"} and f"dist/{mode}/.metadata" in names
    # The checkpoint also loads in a single process (resharding the DTensor).
    fs = OssFileSystem(emu.endpoint, cred_path=cred_file, config_path=config_file)
    want = ckpt_dcp_worker.expected_state(0)
    want.update(ckpt_dcp_worker.expected_state(1))
    loaded = ckpt_dcp_worker.empty_like_state(want)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        DCP.load(loaded, storage_reader=fs.reader(uri))
    assert_state_equal(want, loaded)
