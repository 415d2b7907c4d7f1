"""Sharding by torch.distributed rank: two gloo ranks (spawned processes),
each with DataLoader workers, read disjoint shares covering every object."""

import json
import os

import pytest
import torch.multiprocessing as tmp

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


def _rank_main(rank, world, init_file, kwargs, uri, out_dir, context):
    import torch
    import torch.distributed as dist

    from ds_helpers import key_and_bytes
    from ossconnector.datasets import OssIterableDataset

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                            world_size=world)
    try:
        ds = OssIterableDataset.from_prefix(uri, transform=key_and_bytes, **kwargs)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2,
                                             multiprocessing_context=context)
        keys = [k for k, _ in loader]
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(keys, f)
        dist.barrier()
    finally:
        dist.destroy_process_group()


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_two_ranks_read_disjoint_shares(ds_kwargs, bucket, objects, tmp_path, context):
    data = objects(37)
    tmp.spawn(_rank_main, args=(2, str(tmp_path / "init"), ds_kwargs, f"oss://{bucket}/data/",
                                str(tmp_path), context), nprocs=2, join=True)
    shares = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == sorted(data)
    assert abs(len(shares[0]) - len(shares[1])) <= 1
