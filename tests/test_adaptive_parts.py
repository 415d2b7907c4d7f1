"""The engine's part-size controller (libpreload/engine/adapt.c) against the
emulator: reads give the object's bytes with it on and off, a part size the
user set is what every GET uses, and the first large read of a fresh client
(no measurement yet) is split into 16 streams.  What later reads choose
depends on measured timing, so only its bounds are checked here; the rules
themselves are unit-tested in libpreload/tests/test_adapt.c.
"""

import json
import random

import pytest

MiB = 1 << 20
SIZE = 144 * MiB + 4321     # > 16 x the 8 MiB base part: the controller splits it
STREAMS = 16


def _config(tmp_path, name, **http):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"logPath": str(tmp_path / "connector.log"),
                                "auditPath": str(tmp_path / f"{name}-audit.log"),
                                "auditThresholdMs": 0, "http": http}))
    return str(path), tmp_path / f"{name}-audit.log"


def _gets(audit, key):
    """(offset, size) of every GET of key in the audit log, in log order."""
    out = []
    for line in audit.read_text().splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[1] == "GET" and fields[3] == f'key="{key}"':
            size = int(next(f for f in fields if f.startswith("bytes="))[6:])
            out.append(size)
    return out


@pytest.fixture(scope="module")
def big(emu):
    name = "adaptive-parts"
    emu.create_bucket(name)
    data = random.Random(7).randbytes(SIZE)
    emu.put_object(name, "big.bin", data)
    yield name, data
    emu.delete_bucket(name)


def _read_whole(client, uri, n):
    buf = bytearray(n)
    with client.open(uri, size=n) as r:
        assert r.readinto(buf) == n
    return bytes(buf)


def _read_streamed(client, uri):
    with client.open(uri) as r:
        return b"".join(iter(lambda: r.read(256 * 1024), b""))


@pytest.mark.parametrize("adaptive", [True, False])
def test_same_bytes_with_the_controller_on_and_off(emu, big, cred_file, tmp_path, adaptive):
    from ossconnector import Client

    bucket, data = big
    config, audit = _config(tmp_path, f"adaptive-{adaptive}", adaptive=adaptive)
    uri = f"oss://{bucket}/big.bin"
    with Client(emu.endpoint, cred_path=cred_file, config_path=config) as client:
        assert client.part_size == 8 * MiB
        first = _read_whole(client, uri, SIZE)
        sizes_first = _gets(audit, "big.bin")
        for _ in range(2):      # later reads: sized from what the first ones measured
            assert _read_whole(client, uri, SIZE) == data
        assert _read_streamed(client, uri) == data
        part = 7 * MiB + 11     # a range that starts and ends inside parts
        buf = bytearray(3 * part)
        with client.open(uri, size=SIZE) as r:
            r.seek(part)
            assert r.readinto(buf) == len(buf)
        assert bytes(buf) == data[part:4 * part]
    assert first == data
    sizes = _gets(audit, "big.bin")
    if adaptive:
        # a fresh client measured nothing yet: 16 streams, whole MiB, >= the base part
        per = -(-SIZE // STREAMS)
        want = -(-per // MiB) * MiB            # 10 MiB
        assert sorted(sizes_first) == sorted([want] * (SIZE // want) + [SIZE % want])
        assert max(sizes) <= 64 * MiB
    else:
        assert sorted(sizes_first) == sorted([8 * MiB] * (SIZE // (8 * MiB))
                                             + [SIZE % (8 * MiB)])
        assert max(sizes) <= 8 * MiB


def test_a_part_size_the_user_set_is_honoured(emu, big, cred_file, tmp_path):
    from ossconnector import Client

    bucket, data = big
    part = 3 * MiB
    config, audit = _config(tmp_path, "user-part", partSize=part, adaptive=True)
    uri = f"oss://{bucket}/big.bin"
    with Client(emu.endpoint, cred_path=cred_file, config_path=config) as client:
        for _ in range(3):
            assert _read_whole(client, uri, SIZE) == data
    sizes = _gets(audit, "big.bin")
    whole, tail = divmod(SIZE, part)
    assert sorted(sizes) == sorted(([part] * whole + [tail]) * 3)


def test_the_environment_variable_turns_it_off(emu, big, cred_file, tmp_path, monkeypatch):
    from ossconnector import Client

    bucket, data = big
    config, audit = _config(tmp_path, "env-off", adaptive=True)
    monkeypatch.setenv("OSSC_HTTP_ADAPTIVE", "0")
    with Client(emu.endpoint, cred_path=cred_file, config_path=config) as client:
        assert _read_whole(client, f"oss://{bucket}/big.bin", SIZE) == data
    sizes = _gets(audit, "big.bin")
    assert sorted(sizes) == sorted([8 * MiB] * (SIZE // (8 * MiB)) + [SIZE % (8 * MiB)])


def test_a_bad_environment_value_names_the_variable(emu, cred_file, tmp_path, monkeypatch):
    from ossconnector import Client

    config, _ = _config(tmp_path, "env-bad")
    monkeypatch.setenv("OSSC_HTTP_ADAPTIVE", "on")
    with pytest.raises(ValueError, match=r"\$OSSC_HTTP_ADAPTIVE='on' must be 0 or 1"):
        with Client(emu.endpoint, cred_path=cred_file, config_path=config) as client:
            client.part_size
