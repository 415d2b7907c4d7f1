"""Properties of oss:// URI parsing (ossconnector.client.parse_uri, which
calls the engine's ossc_parse_uri) and of the CLI's key -> local path
mapping (cli._common.safe_join).

- a valid bucket and key round-trip through "oss://bucket/key";
- any str either parses into parts that rebuild the URI exactly, or raises
  ValueError: never another exception, never parts of a different URI
  (a NUL byte used to cut the URI short: "oss://b/a\\0x" gave key "a");
- safe_join never yields a path outside the root it is given.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from ossconnector.client import parse_uri
from ossconnector.cli._common import CommandError, safe_join

BUCKET = st.from_regex(r"\A[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
KEY = st.text(min_size=0, max_size=60).filter(
    lambda k: "\0" not in k and not k.startswith("/") and
    len(k.encode("utf-8", "surrogatepass")) < 1024)


@given(BUCKET, KEY)
def test_valid_uri_round_trips(bucket, key):
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        assume(False)  # lone surrogates: not a key OSS can hold
    assert parse_uri(f"oss://{bucket}/{key}") == (bucket, key)
    if not key:
        assert parse_uri(f"oss://{bucket}") == (bucket, "")


URIS = st.one_of(
    st.text(max_size=80),
    st.builds(lambda b, k: f"oss://{b}/{k}", BUCKET, st.text(max_size=40)),
    st.builds(lambda b, k: f"oss://{b}{k}", st.text(max_size=70), st.text(max_size=10)),
)


@given(URIS)
@example("oss://bucket/a\0b")
@example("oss://buc\0ket/a")
@example("oss://bucket/\udcff")
def test_any_uri_parses_exactly_or_raises_value_error(uri):
    try:
        bucket, key = parse_uri(uri)
    except ValueError:
        return
    rebuilt = f"oss://{bucket}/{key}"
    assert uri == rebuilt or (key == "" and uri == f"oss://{bucket}"), \
        f"{uri!r} parsed as {(bucket, key)!r}"


@pytest.mark.parametrize("uri", ["oss://bucket/a\0b", "oss://buc\0ket/a", "oss://bucket/\0"])
def test_nul_in_uri_is_refused_naming_it(uri):
    with pytest.raises(ValueError, match="NUL"):
        parse_uri(uri)


def test_non_str_uri_is_a_type_error():
    with pytest.raises(TypeError):
        parse_uri(b"oss://bucket/key")


REL = st.lists(st.sampled_from(["a", "b", ".", "..", "", "c.d", "...", " ", "x\\y", "\0"]),
               min_size=1, max_size=6).map("/".join)


@given(st.one_of(REL, st.text(max_size=40)))
@example("../etc/passwd")
@example("a/../../x")
@example("/abs")
def test_safe_join_stays_below_root(rel):
    root = "/srv/download/root"
    try:
        path = safe_join(root, rel)
    except CommandError:
        return
    assert os.path.commonpath([root, os.path.normpath(path)]) == root
    assert os.path.normpath(path) != root


def test_lone_surrogate_is_refused_naming_the_uri():
    with pytest.raises(ValueError, match="invalid OSS URI 'oss://bucket/a\\\\ud800b'"):
        parse_uri("oss://bucket/a\ud800b")
