"""ListObjects V1/V2 semantics, checked with oss2 iterators and raw XML."""

import xml.etree.ElementTree as ET

import oss2
import pytest

from ossconnector.emulator.testing import build_request, parse_head, raw_exchange, request_target, signed_headers

KEYS = ["a.txt", "b/1", "b/2", "b/c/3", "b/c/4", "c d/e+f", "c d/g%h", "d#/x?y", "数据/1", "z"]


@pytest.fixture
def populated(emu, bucket_name, bucket):
    for key in KEYS:
        emu.put_object(bucket_name, key, key.encode())
    return bucket


def expected(prefix="", delimiter=""):
    keys, prefixes = [], []
    for k in sorted(KEYS):
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        if delimiter and delimiter in rest:
            cp = prefix + rest[:rest.index(delimiter) + len(delimiter)]
            if cp not in prefixes:
                prefixes.append(cp)
        else:
            keys.append(k)
    return keys, prefixes


def split(entries, bucket):
    keys = [e.key for e in entries if not e.is_prefix()]
    prefixes = [e.key for e in entries if e.is_prefix()]
    return keys, prefixes


@pytest.mark.parametrize("iterator", [oss2.ObjectIterator, oss2.ObjectIteratorV2])
@pytest.mark.parametrize("prefix,delimiter", [("", ""), ("", "/"), ("b/", "/"), ("b/", ""), ("c d/", "/"),
                                              ("nothing", "/")])
@pytest.mark.parametrize("max_keys", [1, 2, 3, 100])
def test_iterators_match_expected(populated, iterator, prefix, delimiter, max_keys):
    entries = list(iterator(populated, prefix=prefix, delimiter=delimiter, max_keys=max_keys))
    keys, prefixes = split(entries, populated)
    assert (keys, prefixes) == expected(prefix, delimiter)


def test_sizes_etags_and_types(populated):
    objs = {o.key: o for o in oss2.ObjectIteratorV2(populated, fetch_owner=True)}
    assert objs["a.txt"].size == len(b"a.txt")
    assert objs["a.txt"].type == "Normal" and objs["a.txt"].storage_class == "Standard"
    assert objs["a.txt"].owner is not None
    assert objs["a.txt"].etag == populated.head_object("a.txt").etag


def raw_list(emu, bucket_name, params):
    headers = signed_headers(emu, "GET", bucket_name, "", params=params)
    head, body, _ = raw_exchange(emu.endpoint, build_request("GET", request_target(bucket_name, "", params),
                                                             dict(headers, Connection="close")))
    assert parse_head(head)[0] == 200, body
    assert b"xmlns" not in body
    return ET.fromstring(body)


def test_v1_next_marker_without_delimiter(emu, populated, bucket_name):
    root = raw_list(emu, bucket_name, {"max-keys": "3"})
    assert root.tag == "ListBucketResult"
    assert root.findtext("IsTruncated") == "true"
    assert root.findtext("NextMarker") == "b/2"
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["a.txt", "b/1", "b/2"]
    root = raw_list(emu, bucket_name, {"max-keys": "3", "marker": "b/2"})
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["b/c/3", "b/c/4", "c d/e+f"]


def test_v1_marker_on_common_prefix(emu, populated, bucket_name):
    root = raw_list(emu, bucket_name, {"delimiter": "/", "marker": "b/"})
    prefixes = [p.findtext("Prefix") for p in root.findall("CommonPrefixes")]
    assert "b/" not in prefixes and prefixes[0] == "c d/"


def test_v2_tokens_start_after_and_keycount(emu, populated, bucket_name):
    root = raw_list(emu, bucket_name, {"list-type": "2", "max-keys": "2", "start-after": "b/2"})
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["b/c/3", "b/c/4"]
    assert root.findtext("KeyCount") == "2" and root.findtext("StartAfter") == "b/2"
    token = root.findtext("NextContinuationToken")
    assert token and root.find("Contents/Owner") is None
    root = raw_list(emu, bucket_name, {"list-type": "2", "max-keys": "2", "continuation-token": token})
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["c d/e+f", "c d/g%h"]
    assert root.findtext("ContinuationToken") == token


def test_encoding_type_url(emu, populated, bucket_name):
    root = raw_list(emu, bucket_name, {"encoding-type": "url", "prefix": "c d/", "max-keys": "1"})
    assert root.findtext("EncodingType") == "url"
    assert root.findtext("Prefix") == "c%20d%2F"
    assert [c.findtext("Key") for c in root.findall("Contents")] == ["c%20d%2Fe%2Bf"]
    assert root.findtext("NextMarker") == "c%20d%2Fe%2Bf"
    # oss2 decodes url-encoded listings transparently
    got = [o.key for o in oss2.ObjectIterator(populated, prefix="d#/")]
    assert got == ["d#/x?y"]
    got = [o.key for o in oss2.ObjectIteratorV2(populated, prefix="数据/")]
    assert got == ["数据/1"]


def test_invalid_max_keys(populated):
    with pytest.raises(oss2.exceptions.OssError) as exc:
        populated.list_objects(max_keys=1001)
    assert exc.value.status == 400


def test_empty_bucket_listing(bucket):
    result = bucket.list_objects_v2()
    assert result.object_list == [] and result.prefix_list == [] and not result.is_truncated
