"""Every byte one reader hands out is of one version of the object.

The first GET of a reader to finish pins the version (its ETag); every GET
after it asks for that version only (If-Match), and one already running is
compared when it lands.  An object replaced while a reader reads fails the
read with ESTALE naming the object and the ETag, instead of handing out a
file that splices two versions -- which no CRC would catch for a range, or
where the store sends no CRC at all.  The engine's calls are checked here
too: ossc_get_async_version, ossc_future_etag."""

import errno
import os

import pytest

from ossconnector._native import ffi, lib, new_error
from ossconnector.errors import OssError
from tests_helpers import wait_until

MiB = 1 << 20


def _get(client, bucket, key, etag, size):
    """One GET of the whole object through the engine, pinned to etag
    (None: any).  Returns (bytes read or -1, the error, the ETag read)."""
    buf = ffi.new("char[]", max(size, 1))
    err = new_error()
    pin = etag.encode() if etag is not None else ffi.NULL
    fu = lib.ossc_get_async_version(client._get_native(), bucket.encode(), key.encode(), pin,
                                    0, size, buf, err)
    if fu == ffi.NULL:
        return -1, err, None, b""
    n = lib.ossc_future_wait(fu, err)
    got = lib.ossc_future_etag(fu)
    version = ffi.string(got).decode() if got != ffi.NULL else None
    data = ffi.buffer(buf, n)[:] if n > 0 else b""
    lib.ossc_future_free(fu)
    return n, err, version, data


def test_engine_reads_the_version_asked_for(client, emu, bucket):
    old, new = os.urandom(300_000), os.urandom(300_000)
    etag_old = emu.put_object(bucket, "e", old)["etag"].strip('"')
    n, err, version, data = _get(client, bucket, "e", None, len(old))
    assert n == len(old) and data == old and version.lower() == etag_old.lower()
    # Quoted, as a header or a listing may give it, or weakened by a proxy:
    # the same version.
    for given in (f'"{etag_old}"', f'W/"{etag_old}"', etag_old.lower()):
        n, err, version, data = _get(client, bucket, "e", given, len(old))
        assert n == len(old) and data == old, (given, ffi.string(err.message))
    emu.put_object(bucket, "e", new)
    n, err, version, data = _get(client, bucket, "e", etag_old, len(old))
    assert n == -1 and err.code == errno.ESTALE, ffi.string(err.message)
    message = ffi.string(err.message).decode()
    assert f"oss://{bucket}/e" in message and etag_old in message and "replaced" in message


@pytest.mark.parametrize("bad", ['a b', 'x"y', 'back\\slash', 'x' * 128, '\x01', '""', 'W/'])
def test_engine_refuses_what_is_not_an_etag(client, bucket, bad):
    n, err, version, data = _get(client, bucket, "e", bad, 10)
    assert n == -1 and err.code == errno.EINVAL
    assert "is not an ETag" in ffi.string(err.message).decode()


def test_reader_replaced_mid_read_fails_with_estale(client, emu, bucket):
    """A reader read the object's start; the object is replaced; a read far
    beyond what read-ahead could have fetched is refused (412 to the
    pinned GET) instead of returning the new version's bytes."""
    size = 64 * MiB
    old, new = os.urandom(size), os.urandom(size)
    emu.put_object(bucket, "v", old)
    with client.open(f"oss://{bucket}/v", size=size) as f:
        assert f.read(1000) == old[:1000]
        emu.put_object(bucket, "v", new)
        f.seek(size - 4096)
        with pytest.raises(OssError) as e:
            f.read(1000)
    assert e.value.errno == errno.ESTALE, e.value
    assert f"oss://{bucket}/v" in str(e.value) and "replaced" in str(e.value)


@pytest.mark.parametrize("if_match", [True, False], ids=["if-match", "compare-only"])
def test_engine_pin_with_and_without_if_match(emu, bucket, cred_file, tmp_path, if_match):
    """http.ifMatch false (for a proxy that rewrites ETags but forwards
    If-Match unchanged): a pinned read sends no If-Match, and a replaced
    object is still refused -- by comparing the reply's ETag (after the
    bytes came) instead of the server's 412."""
    from ossconnector import Client
    from tests_helpers import write_config

    old, new = os.urandom(300_000), os.urandom(300_000)
    etag_old = emu.put_object(bucket, "m", old)["etag"].strip('"')
    cfg = write_config(tmp_path, http={"ifMatch": if_match})
    with Client(emu.endpoint, cred_path=cred_file, config_path=cfg) as c:
        n, err, version, data = _get(c, bucket, "m", etag_old, len(old))
        assert n == len(old) and data == old
        emu.put_object(bucket, "m", new)
        emu.reset_stats()
        n, err, version, data = _get(c, bucket, "m", etag_old, len(old))
    message = ffi.string(err.message).decode()
    assert n == -1 and err.code == errno.ESTALE, message
    sent = emu.object_stats(bucket, "m")["bytes_sent"]
    if if_match:
        assert "412 Precondition Failed" in message and sent == 0
    else:
        assert f'ETag "{etag_old}", then' in message and sent > 0, message


def test_reader_not_replaced_reads_every_byte(client, emu, bucket):
    """The pin costs nothing when nothing changes: the same reads return
    the object's bytes, and a new reader after a replacement reads the new
    version."""
    size = 64 * MiB
    old, new = os.urandom(size), os.urandom(size)
    emu.put_object(bucket, "v", old)
    with client.open(f"oss://{bucket}/v", size=size) as f:
        assert f.read(1000) == old[:1000]
        f.seek(size - 4096)
        assert f.read(1000) == old[size - 4096:size - 3096]
    emu.put_object(bucket, "v", new)
    with client.open(f"oss://{bucket}/v", size=size) as f:
        f.seek(size - 4096)
        assert f.read(1000) == new[size - 4096:size - 3096]


def test_readers_sharing_a_check_share_the_version(client, emu, bucket):
    """A DCP load reads one object through several batches and readers that
    share one ObjectCheck: they share its version too, so the object
    replaced between two of them fails the later one with ESTALE."""
    from ossconnector.checkpoint.reader import CheckpointReader
    from ossconnector.readahead import ObjectCheck

    size = 8 * MiB
    old, new = os.urandom(size), os.urandom(size)
    emu.put_object(bucket, "d", old)
    uri = f"oss://{bucket}/d"
    shared = ObjectCheck(uri)
    with CheckpointReader(client, bucket, "d", size, object_check=shared) as a:
        assert a.read(1000) == old[:1000]
    emu.put_object(bucket, "d", new)
    with CheckpointReader(client, bucket, "d", size, object_check=shared) as b:
        b.seek(size - 1000)
        with pytest.raises(OssError) as e:
            b.read(1000)
    assert e.value.errno == errno.ESTALE and uri in str(e.value)
    with CheckpointReader(client, bucket, "d", size) as c:  # a reader of its own
        c.seek(size - 1000)
        assert c.read(1000) == new[-1000:]


@pytest.mark.parametrize("etag", ["E" * 70 + "-12345", "v1-caf\u00e9"],
                         ids=["long-76", "non-ascii"])
def test_unusual_etags_are_pinned(client, emu, bucket, etag):
    """ETags other stores write (a SHA-256 with a multipart suffix; a byte
    outside ASCII): a reader pins them as the server sent them, reads the
    object whole while it stands, and refuses a replacement."""
    size = 16 * MiB
    old, new = os.urandom(size), os.urandom(size)
    emu.put_object(bucket, "u", old, etag=etag)
    with client.open(f"oss://{bucket}/u", size=size) as f:
        got = bytearray()
        while chunk := f.read(3 * MiB):
            got += chunk
    assert bytes(got) == old
    with client.open(f"oss://{bucket}/u", size=size) as f:
        assert f.read(1000) == old[:1000]
        emu.put_object(bucket, "u", new, etag=etag[:-1] + "X")
        f.seek(size - 4096)
        with pytest.raises(OssError) as e:
            f.read(1000)
    assert e.value.errno == errno.ESTALE


def test_etag_too_long_to_keep_reads_normally(client, emu, bucket):
    """An ETag longer than the engine keeps (127 characters) is not cut
    (two versions could share the cut) but unknown: nothing is pinned and
    the object reads normally."""
    size = 16 * MiB
    data = os.urandom(size)
    emu.put_object(bucket, "t", data, etag="T" * 200)
    with client.open(f"oss://{bucket}/t", size=size) as f:
        assert f.read(1000) == data[:1000]
        f.seek(size - 4096)
        assert f.read(1000) == data[size - 4096:size - 3096]
    n, err, version, got = _get(client, bucket, "t", None, size)
    assert n == size and got == data and version == ""


def test_dataset_item_of_unknown_size_is_one_version(client, emu, bucket):
    """A dataset item read with no size known: a guess-sized GET first and,
    when it comes back full, the rest.  The size comes from that GET's own
    reply (no HEAD, which could see a replacement and cut the first
    version's bytes to the second's size), and the rest is pinned to its
    version: replaced in between, the item fails with ESTALE."""
    from ossconnector.datasets._prefetch import Fetch

    data = os.urandom(3 * MiB + 5)
    emu.put_object(bucket, "item", data)
    emu.reset_stats()
    assert Fetch(client, bucket, "item", guess=MiB).result() == data
    stats = emu.object_stats(bucket, "item")
    assert stats.get("HEAD", 0) == 0 and stats.get("GET", 0) >= 2, stats

    # Replaced by a smaller object once the guess GET has landed (done():
    # the event): the rest is refused, not the first MiB cut to 800 bytes.
    fetch = Fetch(client, bucket, "item", guess=MiB)
    wait_until(fetch.done, "the guess GET")
    emu.put_object(bucket, "item", os.urandom(800))
    with pytest.raises(OssError) as e:
        fetch.result()
    assert e.value.errno == errno.ESTALE, e.value

