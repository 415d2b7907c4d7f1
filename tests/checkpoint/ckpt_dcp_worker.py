"""One rank of the multi-process DCP tests (started with the spawn method,
so it lives in an importable module of its own)."""

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as DCP


def expected_state(rank):
    """Replicated tensors, a tensor only this rank has, a DTensor sharded
    over the ranks, and plain Python values."""
    g = torch.Generator().manual_seed(1234)
    return {
        "shared.weight": torch.randn(512, 256, generator=g),
        "shared.bias": torch.randn(256, generator=g),
        f"rank{rank}.only": torch.full((1000,), float(rank)),
        "full": torch.arange(64 * 1024, dtype=torch.float32).reshape(64, 1024),
        "step": 10,
        "extra": {"lr": 0.5, "name": "run-7"},
    }


def make_state(rank, mesh):
    from torch.distributed.tensor import Shard, distribute_tensor

    state = expected_state(rank)
    state["full"] = distribute_tensor(state["full"], mesh, [Shard(0)])
    return state


def empty_like_state(state):
    """What DCP loads ``state`` into (also used by the single-process tests):
    zeroed tensors of the same shapes, None for plain values and for the
    values of nested dicts."""
    out = {}
    for k, v in state.items():
        if isinstance(v, torch.Tensor):
            out[k] = torch.zeros_like(v)
        elif isinstance(v, dict):
            out[k] = {kk: None for kk in v}
        else:
            out[k] = None
    return out


def run_rank(rank, world, init_file, endpoint, cred_path, config_path, uri, mode):
    """Saves (mode "save"/"async_save") then loads the checkpoint on every
    rank and checks every value; raises on any difference."""
    from torch.distributed.device_mesh import init_device_mesh

    from osstorchconnector import OssFileSystem

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,))
        fs = OssFileSystem(endpoint, cred_path=cred_path, config_path=config_path)
        state = make_state(rank, mesh)
        if mode == "async_save":
            DCP.async_save(state, storage_writer=fs.writer(uri)).result()
        else:
            DCP.save(state, storage_writer=fs.writer(uri))
        dist.barrier()

        loaded = empty_like_state(state)
        DCP.load(loaded, storage_reader=fs.reader(uri))
        for key, value in state.items():
            got = loaded[key]
            if hasattr(value, "to_local"):
                value, got = value.to_local(), got.to_local()
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, got), f"rank {rank}: {key} differs"
            else:
                assert value == got, f"rank {rank}: {key}: {got!r} != {value!r}"
        dist.barrier()
    finally:
        dist.destroy_process_group()
