"""Properties of dataset manifests (ossconnector.datasets.manifest).

- imagenet_manifest_parser round-trips any (key, label) pairs it can
  represent, and on any bytes yields non-empty keys or raises ValueError
  naming the manifest and line: never another exception;
- read_manifest either raises ValueError naming the manifest, or builds a
  table whose every key is exactly oss_base_uri's prefix + the manifest's
  key (or the key's oss:// URI), with no NUL: a key the engine would cut
  short at a NUL names another object (it used to be kept).
"""

from __future__ import annotations

import io
import os
import tempfile

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ossconnector.datasets.manifest import imagenet_manifest_parser, read_manifest

# A key or label the line format can carry: no tab or newline, and no
# surrounding whitespace (the parser strips it).
FIELD = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20).map(
    lambda s: s.replace("\t", "").replace("\n", "").replace("\r", "").strip()).filter(bool)


class _Reader(io.BytesIO):
    name = "mem.tsv"


@given(st.lists(st.tuples(FIELD, st.one_of(st.just(""), FIELD)), max_size=15))
def test_imagenet_lines_round_trip(pairs):
    text = "".join(f"{k}\t{lb}\n" if lb else f"{k}\n" for k, lb in pairs).encode()
    assert list(imagenet_manifest_parser(_Reader(text))) == pairs


LINES = st.lists(st.one_of(st.binary(max_size=20), st.text(max_size=20).map(str.encode),
                           st.sampled_from([b"", b"  ", b"\t", b"a\tb\tc", b"\xff", b"k\0ey"])),
                 max_size=10).map(b"\n".join)


@given(LINES)
def test_imagenet_any_bytes_yield_keys_or_value_error(data):
    try:
        pairs = list(imagenet_manifest_parser(_Reader(data)))
    except ValueError as exc:
        assert "manifest mem.tsv, line " in str(exc)
        return
    for key, label in pairs:
        assert key and key == key.strip() and "\t" not in key and "\n" not in key
        assert isinstance(label, str)


def _read(data, base):
    fd, path = tempfile.mkstemp(suffix=".tsv", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path, read_manifest(None, path, imagenet_manifest_parser, base)
    except ValueError as exc:
        assert path in str(exc), f"error does not name the manifest: {exc}"
        return path, None
    finally:
        os.unlink(path)


@given(LINES)
@example(b"a\0b\tlabel")
def test_read_manifest_with_base_keys_are_exact(data):
    _, table = _read(data, "oss://bucket/train/")
    if table is None:
        return
    keys = [k for k, _ in imagenet_manifest_parser(_Reader(data))]
    assert [table.key(i) for i in range(len(table))] == ["train/" + k for k in keys]
    for i in range(len(table)):
        assert table.bucket(i) == "bucket"
        assert "\0" not in table.key(i)


URI_LINES = st.lists(st.one_of(
    st.builds(lambda b, k: f"oss://{b}/{k}", st.sampled_from(["bucket", "b-2x", "Bad", "ab", "x" * 64]),
              st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\t\n\r"),
                      max_size=12)),
    st.text(max_size=12)), max_size=8).map(lambda ls: "\n".join(ls).encode())


@given(URI_LINES)
@example(b"oss://bucket/a\0b")
@example(b"oss://Bad/key")
def test_read_manifest_of_uris_keys_are_exact(data):
    _, table = _read(data, None)
    if table is None:
        return
    keys = [k for k, _ in imagenet_manifest_parser(_Reader(data))]
    assert [table.uri(i) for i in range(len(table))] == keys


@pytest.mark.parametrize("base", ["oss://bucket/p/", None])
def test_read_manifest_refuses_a_nul_in_a_key_naming_the_manifest(base):
    line = b"a\0b" if base else b"oss://bucket/a\0b"
    path, table = _read(line + b"\tcat\n", base)
    assert table is None
