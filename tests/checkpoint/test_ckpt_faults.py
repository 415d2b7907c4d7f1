"""A checkpoint save that fails — by an exception in the ``with`` block, a
part the server keeps refusing, a failed commit, a write after the upload
broke — leaves the previous checkpoint intact and no multipart upload
behind; transient server errors are retried and the save succeeds."""


import gc
import os

import oss2
import pytest
import torch

MiB = 1 << 20


def big_state(seed):
    g = torch.Generator().manual_seed(seed)
    return {f"w{i}": torch.randn(256, 1024, generator=g) for i in range(6)}  # 6 MiB


@pytest.fixture
def old(ckpt, bucket):
    """A committed checkpoint at oss://bucket/ckpt/latest; returns its bytes."""
    with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
        torch.save(big_state(0), w)
    with ckpt.reader(f"oss://{bucket}/ckpt/latest") as r:
        return r.read()


def pending_uploads(oss2b):
    return [(u.key, u.upload_id) for u in oss2.MultipartUploadIterator(oss2b)]


def assert_old_intact(ckpt, bucket, old, oss2b):
    with ckpt.reader(f"oss://{bucket}/ckpt/latest") as r:
        assert r.read() == old
        r.seek(0)
        sd = torch.load(r, weights_only=True)
    assert torch.equal(sd["w0"], big_state(0)["w0"])
    assert pending_uploads(oss2b) == []


def test_exception_inside_with_aborts(ckpt, bucket, old, oss2b):
    with pytest.raises(RuntimeError, match="killed"):
        with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
            torch.save(big_state(1), w)
            raise RuntimeError("training job killed")
    assert_old_intact(ckpt, bucket, old, oss2b)


def test_exception_while_serialising_aborts(ckpt, bucket, old, oss2b):
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle this")

    sd = big_state(1)
    sd["zz"] = Unpicklable()     # fails after the tensors' parts have gone out
    with pytest.raises(TypeError, match="cannot pickle"):
        with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
            torch.save(sd, w)
    assert_old_intact(ckpt, bucket, old, oss2b)


def test_new_object_not_created_on_failure(ckpt, bucket, oss2b):
    with pytest.raises(KeyboardInterrupt):
        with ckpt.writer(f"oss://{bucket}/ckpt/fresh") as w:
            torch.save(big_state(1), w)
            raise KeyboardInterrupt
    with pytest.raises(FileNotFoundError):
        ckpt.reader(f"oss://{bucket}/ckpt/fresh")
    assert pending_uploads(oss2b) == []


def test_part_failing_for_good(ckpt, emu, bucket, old, oss2b):
    emu.faults.fail_part(status=500, count=1000, bucket=bucket, key="ckpt/latest", part_number=3)
    with pytest.raises(OSError, match="500"):
        with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
            torch.save(big_state(1), w)
    emu.faults.clear()
    assert_old_intact(ckpt, bucket, old, oss2b)


def test_part_refused(ckpt, emu, bucket, old, oss2b):
    emu.faults.fail_part(status=403, code="AccessDenied", count=1, bucket=bucket,
                         key="ckpt/latest", part_number=2)
    with pytest.raises(PermissionError):
        with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
            torch.save(big_state(1), w)
    assert_old_intact(ckpt, bucket, old, oss2b)


@pytest.mark.parametrize("status,code,count", [(400, "InvalidPart", 1), (500, None, 1000)])
def test_complete_failing(ckpt, emu, bucket, old, oss2b, status, code, count):
    emu.faults.fail_complete(status=status, code=code, count=count, bucket=bucket,
                             key="ckpt/latest")
    with pytest.raises(OSError):
        with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
            torch.save(big_state(1), w)
    emu.faults.clear()
    assert_old_intact(ckpt, bucket, old, oss2b)


def test_transient_errors_are_retried(ckpt, emu, bucket, old, oss2b):
    emu.faults.fail_part(status=503, count=2, bucket=bucket, key="ckpt/latest", part_number=2)
    emu.faults.fail_complete(status=500, count=1, bucket=bucket, key="ckpt/latest")
    new = big_state(2)
    with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
        torch.save(new, w)
    with ckpt.reader(f"oss://{bucket}/ckpt/latest") as r:
        got = torch.load(r, weights_only=True)
    assert all(torch.equal(got[k], new[k]) for k in new)
    assert pending_uploads(oss2b) == []


def test_small_save_failing(ckpt, emu, bucket, old, oss2b):
    # Smaller than one part: a single PUT, which fails as a whole.
    emu.faults.error(status=500, count=1000, method="PUT", bucket=bucket, key="ckpt/latest")
    with pytest.raises(OSError, match="500"):
        with ckpt.writer(f"oss://{bucket}/ckpt/latest") as w:
            torch.save({"x": torch.ones(10)}, w)
    emu.faults.clear()
    assert_old_intact(ckpt, bucket, old, oss2b)


def test_read_failure_names_the_object(ckpt, emu, bucket, old):
    emu.faults.error(status=500, count=1000, method="GET", bucket=bucket, key="ckpt/latest")
    with ckpt.reader(f"oss://{bucket}/ckpt/latest") as r:
        with pytest.raises(OSError, match="ckpt/latest"):
            torch.load(r, weights_only=True)
        emu.faults.clear()
        r.seek(0)                 # failed blocks are fetched again
        assert torch.equal(torch.load(r, weights_only=True)["w3"], big_state(0)["w3"])


def test_truncated_and_reset_reads_recover(ckpt, emu, bucket, old):
    emu.faults.reset(after_bytes=100_000, count=2, bucket=bucket, key="ckpt/latest")
    emu.faults.truncate(after_bytes=50_000, count=2, bucket=bucket, key="ckpt/latest")
    with ckpt.reader(f"oss://{bucket}/ckpt/latest") as r:
        sd = torch.load(r, weights_only=True)
    assert torch.equal(sd["w5"], big_state(0)["w5"])


def test_failed_upload_is_never_reported_as_saved(ckpt, emu, bucket, oss2b):
    emu.faults.fail_part(status=403, code="AccessDenied", count=1, bucket=bucket, key="k",
                         part_number=1)
    w = ckpt.writer(f"oss://{bucket}/k")
    for _ in range(6):            # failures are reported by close(), not by write()
        assert w.write(os.urandom(MiB)) == MiB
    with pytest.raises(PermissionError, match="AccessDenied"):
        w.close()
    w.close()                     # closing again is a no-op
    with pytest.raises(FileNotFoundError):
        ckpt.reader(f"oss://{bucket}/k")
    assert pending_uploads(oss2b) == []


def test_unclosed_writer_is_never_committed(ckpt, bucket, old, oss2b):
    w = ckpt.writer(f"oss://{bucket}/ckpt/latest")
    w.write(os.urandom(3 * MiB))
    del w
    gc.collect()
    assert_old_intact(ckpt, bucket, old, oss2b)
