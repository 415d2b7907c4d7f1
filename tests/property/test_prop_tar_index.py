"""Properties of the tar index (ossconnector.datasets.tar).

- TarIndex.to_bytes / from_bytes round-trip any members that fit the
  archive (names of any text, surrogate-escaped bytes included);
- from_bytes on any bytes, or on a valid index with bytes changed, cut or
  added, returns an index whose every member lies inside the archive, or
  raises ValueError naming the source: never another exception;
- index_archive on a real tar finds each member's exact bytes, and on a
  damaged tar raises ValueError or gives an index that from_bytes accepts.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile

from hypothesis import example, given
from hypothesis import strategies as st

from ossconnector.datasets.tar import TarIndex, index_archive

NAMES = st.text(min_size=0, max_size=30)
MEMBERS = st.lists(st.tuples(NAMES, st.integers(0, 2**40), st.integers(0, 2**40)), max_size=20)


def _build(members, slack):
    end = max((o + s for _, o, s in members), default=0)
    index = TarIndex(end + slack)
    for name, offset, size in members:
        index.append(name, offset, size)
    return index


@given(MEMBERS, st.integers(0, 2**20))
def test_index_round_trips(members, slack):
    index = _build(members, slack)
    again = TarIndex.from_bytes(index.to_bytes(), "mem")
    assert list(again.members()) == list(index.members()) == members
    assert again.archive_size == index.archive_size


def _check_parsed(index):
    for i, (name, offset, size) in enumerate(index.members()):
        assert isinstance(name, str)
        assert offset + size <= index.archive_size, f"member {i} past the archive"


@given(st.binary(max_size=400))
@example(b"OSSCTIDX")
@example(b"OSSCTIDX" + b"\x01\0\0\0\0\0\0\0" + b"\xff" * 24)
def test_any_bytes_parse_or_value_error(data):
    try:
        index = TarIndex.from_bytes(data, "fuzz.idx")
    except ValueError as exc:
        assert "fuzz.idx" in str(exc)
        return
    _check_parsed(index)


@given(MEMBERS, st.data())
def test_damaged_index_parses_or_value_error(members, data):
    raw = bytearray(_build(members, 0).to_bytes())
    how = data.draw(st.sampled_from(["flip", "cut", "extend"]))
    if how == "flip":
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] ^= data.draw(st.integers(1, 255))
    elif how == "cut":
        del raw[data.draw(st.integers(0, len(raw) - 1)):]
    else:
        raw += data.draw(st.binary(min_size=1, max_size=16))
    try:
        index = TarIndex.from_bytes(bytes(raw), "damaged.idx")
    except ValueError as exc:
        assert "damaged.idx" in str(exc)
        return
    _check_parsed(index)


FILES = st.lists(st.tuples(st.from_regex(r"\A[a-zA-Z0-9_.\- /é数]{1,120}\Z").filter(
    lambda n: not n.startswith("/") and not n.endswith("/") and n.strip("/ ") and ".." not in n),
    st.binary(max_size=700)), min_size=1, max_size=6, unique_by=lambda t: t[0].strip("/"))


def _tar_bytes(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _index_of(data):
    fd, path = tempfile.mkstemp(suffix=".tar", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return index_archive(None, path), path
    finally:
        os.unlink(path)


@given(FILES)
def test_index_archive_finds_each_members_bytes(files):
    data = _tar_bytes(files)
    index, _ = _index_of(data)
    assert index.archive_size == len(data)
    by_name = {tarfile.TarInfo(n).name: c for n, c in files}  # as tarfile normalises names
    assert len(index) == len(files)
    for name, offset, size in index.members():
        assert data[offset:offset + size] == by_name[name]
    assert list(TarIndex.from_bytes(index.to_bytes()).members()) == list(index.members())


@given(FILES, st.data())
def test_damaged_archive_indexes_or_value_error(files, data):
    raw = bytearray(_tar_bytes(files))
    how = data.draw(st.sampled_from(["flip", "cut"]))
    if how == "flip":
        for _ in range(data.draw(st.integers(1, 4))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    else:
        del raw[data.draw(st.integers(0, len(raw) - 1)):]
    try:
        index, path = _index_of(bytes(raw))
    except ValueError as exc:
        assert "tar archive" in str(exc)
        return
    assert index.archive_size == len(raw)
    _check_parsed(index)
    TarIndex.from_bytes(index.to_bytes(), "reindexed")  # what generate_tar_archive writes
