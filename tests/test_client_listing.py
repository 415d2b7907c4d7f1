"""Client.list over several pages: the engine's pipelined lister (next page
requested while the current one is consumed), awkward keys, abandoned
listings, and list pages the server mangles."""

import pytest

# XML entities, URL-escape look-alikes, spaces, non-ASCII: all must come
# back byte for byte through encoding-type=url and the XML parser.
AWKWARD = ["a&b", "x<y>z", "q\"uo'te", "100%25", "sp ace", "plus+sign", "数据/文件",
           "tab\there", "semi;colon", "&amp;literal", "]]>cdata-end"]


@pytest.fixture
def many(emu, bucket):
    """2,345 keys under pg/ (three pages of 1,000), sizes vary."""
    keys = [f"pg/{i:05d}" for i in range(2334)] + [f"pg/z/{k}" for k in AWKWARD]
    for n, key in enumerate(keys):
        emu.put_object(bucket, key, b"x" * (n % 7))
    emu.reset_stats()
    return {key: n % 7 for n, key in enumerate(keys)}


def list_requests(emu):
    return emu.stats()["operations"].get("ListObjectsV2", 0)


def test_pages_come_back_in_order_and_complete(client, emu, bucket, many):
    got = list(client.list(f"oss://{bucket}/pg/"))
    assert [e.key for e in got] == sorted(many)
    assert all(e.size == many[e.key] and e.bucket == bucket for e in got)
    assert all(len(e.etag) == 32 and e.mtime > 0 for e in got)
    assert list_requests(emu) == 3


def test_fast_list_agrees(client, bucket, many):
    got = sorted((e.key, e.size) for e in client.list(f"oss://{bucket}/pg/", fast=True))
    assert got == sorted(many.items())


def test_abandoned_listing_stops_cleanly(client, emu, bucket, many):
    it = client.list(f"oss://{bucket}/pg/")
    first = [next(it) for _ in range(5)]
    assert [e.key for e in first] == sorted(many)[:5]
    it.close()   # the request for page 2 may be in flight: cancelled or awaited
    # at most the page in hand and the one requested early were fetched
    assert list_requests(emu) <= 2
    assert sum(1 for _ in client.list(f"oss://{bucket}/pg/")) == len(many)


def test_empty_prefix_lists_nothing(client, bucket, many):
    assert list(client.list(f"oss://{bucket}/nothing-here/")) == []
    assert list(client.list(f"oss://{bucket}/nothing-here/", fast=True)) == []


@pytest.mark.parametrize("fast", [False, True])
def test_malformed_page_names_the_listing(client, emu, bucket, many, fast):
    # flip bytes inside the first page's markup: no longer well-formed XML
    emu.faults.corrupt(offset=60, length=3, count=1, bucket=bucket, op="ListObjectsV2")
    with pytest.raises(OSError) as exc:
        list(client.list(f"oss://{bucket}/pg/", fast=fast))
    msg = str(exc.value)
    assert f"oss://{bucket}/pg/" in msg
    assert "XML" in msg
    assert emu.faults.list() == []
    # the next listing is unaffected
    assert sum(1 for _ in client.list(f"oss://{bucket}/pg/", fast=fast)) == len(many)
