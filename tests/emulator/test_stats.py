"""Per-object request and byte counters."""

import oss2


def test_fetched_once_counters(emu, bucket_name, bucket):
    data = b"s" * 200_000
    emu.put_object(bucket_name, "counted", data)
    emu.reset_stats()
    assert emu.object_stats(bucket_name, "counted") == {"requests": 0, "bytes_sent": 0, "ranged_gets": 0}
    bucket.get_object("counted").read()
    stats = emu.object_stats(bucket_name, "counted")
    assert stats["GET"] == 1 and stats["bytes_sent"] == len(data) and stats["ranged_gets"] == 0
    bucket.get_object("counted", byte_range=(10, 19)).read()
    bucket.head_object("counted")
    stats = emu.object_stats(bucket_name, "counted")
    assert stats["GET"] == 2 and stats["HEAD"] == 1 and stats["ranged_gets"] == 1
    assert stats["bytes_sent"] == len(data) + 10
    snapshot = emu.stats()
    assert snapshot["operations"]["GetObject"] == 2 and snapshot["operations"]["HeadObject"] == 1
    assert snapshot["total_bytes_sent"] >= len(data) + 10
    emu.reset_stats()
    assert emu.stats()["total_requests"] == 0


def test_truncated_body_counts_only_sent_bytes(emu, bucket_name, bucket):
    emu.put_object(bucket_name, "cut", b"c" * 100_000)
    emu.reset_stats()
    emu.faults.truncate(after_bytes=777, key="cut")
    try:
        bucket.get_object("cut").read()
    except Exception:
        pass
    assert emu.object_stats(bucket_name, "cut")["bytes_sent"] == 777


def test_listing_not_counted_as_object_bytes(emu, bucket_name, bucket):
    emu.put_object(bucket_name, "l", b"x")
    emu.reset_stats()
    list(oss2.ObjectIterator(bucket))
    assert emu.object_stats(bucket_name, "l")["bytes_sent"] == 0
    assert emu.stats()["operations"] == {"ListObjects": 1}
