"""``ossc rm``: one object, a prefix (-r) with confirmation, --dry-run;
bad input (missing object, missing bucket, a prefix without -r)."""

from concurrent.futures import ThreadPoolExecutor

import pytest


def _keys(client, bucket, prefix=""):
    return sorted(e.key for e in client.list(f"oss://{bucket}/{prefix}"))


def test_rm_one_object(ossc, client, bucket):
    client.put(f"oss://{bucket}/a.txt", b"a")
    client.put(f"oss://{bucket}/b.txt", b"b")
    r = ossc("rm", f"oss://{bucket}/a.txt")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"deleted oss://{bucket}/a.txt"]
    assert _keys(client, bucket) == ["b.txt"]


def test_rm_missing_object_is_an_error(ossc, bucket):
    r = ossc("rm", f"oss://{bucket}/nope.txt")
    assert r.code == 1
    assert f"oss://{bucket}/nope.txt: no such object" in r.err


def test_rm_missing_bucket_names_it(ossc, bucket):
    missing = bucket + "-missing"
    for argv in (["rm", f"oss://{missing}/k"], ["rm", "-r", "-y", f"oss://{missing}/p/"]):
        r = ossc(*argv)
        assert r.code == 1, r.err
        assert missing in r.err and "bucket does not exist" in r.err


def test_rm_prefix_needs_r(ossc, client, bucket):
    client.put(f"oss://{bucket}/dir/x", b"x")
    r = ossc("rm", f"oss://{bucket}/dir")
    assert r.code == 2 and "use -r" in r.err
    r = ossc("rm", f"oss://{bucket}/dir/")
    assert r.code == 2 and "use -r" in r.err
    assert _keys(client, bucket) == ["dir/x"]


def test_rm_r_refuses_without_a_terminal_or_yes(ossc, client, bucket):
    client.put(f"oss://{bucket}/dir/x", b"x")
    r = ossc("rm", "-r", f"oss://{bucket}/dir/")
    assert r.code == 2
    assert "without confirmation" in r.err and "-y/--yes" in r.err
    assert _keys(client, bucket) == ["dir/x"]


def test_rm_r_yes_deletes_only_under_the_prefix(ossc, client, bucket):
    for key in ("dir/a", "dir/sub/b", "dir2/c", "top"):
        client.put(f"oss://{bucket}/{key}", key.encode())
    r = ossc("rm", "-r", "-y", f"oss://{bucket}/dir")
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == [f"deleted oss://{bucket}/dir/a",
                                          f"deleted oss://{bucket}/dir/sub/b"]
    assert _keys(client, bucket) == ["dir2/c", "top"]


def test_rm_r_of_an_empty_prefix_says_so(ossc, bucket):
    r = ossc("rm", "-r", "-y", f"oss://{bucket}/nothing/")
    assert r.code == 1 and f"no objects under oss://{bucket}/nothing/" in r.err


def test_dry_run_lists_10000_keys_and_deletes_nothing(ossc, client, bucket):
    keys = [f"many/{i:05d}" for i in range(10_000)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put(f"oss://{bucket}/{k}", b""), keys))
    r = ossc("rm", "-r", "--dry-run", f"oss://{bucket}/many/")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"would delete oss://{bucket}/{k}" for k in keys]
    assert "10000 objects would be deleted" in r.err
    assert len(_keys(client, bucket, "many/")) == 10_000


@pytest.mark.parametrize("answer, deleted", [("y\n", True), ("\n", False)])
def test_rm_r_asks_on_a_terminal(ossc, client, bucket, monkeypatch, answer, deleted):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    client.put(f"oss://{bucket}/dir/x", b"x")
    monkeypatch.setattr(sys, "stdin", Terminal(answer))
    r = ossc("rm", "-r", f"oss://{bucket}/dir/")
    assert "delete 1 objects under oss://" in r.err
    assert (r.code, _keys(client, bucket)) == ((0, []) if deleted else (1, ["dir/x"]))
