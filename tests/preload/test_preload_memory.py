"""Memory under LD_PRELOAD: prefetching pauses at OSSC_MEMORY_LIMIT (reads
on demand still work), and a file's cache is released after it has been
closed and unmapped for OSSC_RELEASE_DELAY seconds — then fetched again
when reopened, with the right bytes."""

import json

from preload_helpers import make_sharded_model, preload_env, run, upload

CACHE_USAGE = """
import glob, os
def cache_bytes():
    return sum(os.stat(p).st_blocks * 512
               for p in glob.glob(os.path.join(os.environ['OSSC_CACHE_DIR'], '*', 'data.*')))
"""


def test_prefetch_stops_at_memory_limit(emu, bucket, tmp_path):
    files = make_sharded_model(str(tmp_path / "local"), shards=4, rows=4096)
    upload(emu, bucket, "limited/", files)
    limit = 2 << 20  # smaller than one 8 MiB chunk: prefetch may start one at most
    env = preload_env(emu, bucket, "limited/", tmp_path / "model", tmp_path / "cache",
                      OSSC_MEMORY_LIMIT=str(limit))
    code = CACHE_USAGE + """
import hashlib, json, time
time.sleep(2)
before = cache_bytes()
d = os.environ['MODEL_DIR']
sums = {n: hashlib.sha256(open(os.path.join(d, n), 'rb').read()).hexdigest()
        for n in sorted(os.listdir(d)) if n.endswith('.safetensors')}
print(json.dumps({"before": before, "sums": sums}))
"""
    res = json.loads(run(code, env).stdout)
    assert res["before"] <= 8 << 20, res["before"]
    import hashlib

    for name, digest in res["sums"].items():
        assert digest == hashlib.sha256(files[name]).hexdigest()


def test_cache_released_after_delay_and_refetched(emu, bucket, tmp_path):
    files = make_sharded_model(str(tmp_path / "local"), shards=1, rows=4096)
    upload(emu, bucket, "release/", files)
    emu.reset_stats()
    env = preload_env(emu, bucket, "release/", tmp_path / "model", tmp_path / "cache",
                      OSSC_RELEASE_DELAY="1")
    code = CACHE_USAGE + """
import hashlib, json, mmap, time
d = os.environ['MODEL_DIR']
name = [n for n in os.listdir(d) if n.endswith('.safetensors')][0]
path = os.path.join(d, name)
with open(path, 'rb') as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
first = hashlib.sha256(m[:]).hexdigest()
loaded = cache_bytes()
time.sleep(3)                     # past the delay: nothing to wait for when it is kept
still_mapped = cache_bytes()      # closed but mapped: kept
m.close()
deadline = time.monotonic() + 120  # the event: the janitor releasing it, past the delay
while cache_bytes() and time.monotonic() < deadline:
    time.sleep(0.05)
released = cache_bytes()          # closed and unmapped past the delay: gone
with open(path, 'rb') as f:
    again = hashlib.sha256(f.read()).hexdigest()
print(json.dumps(dict(name=name, first=first, again=again, loaded=loaded,
                      still_mapped=still_mapped, released=released)))
"""
    res = json.loads(run(code, env).stdout)
    import hashlib

    expected = hashlib.sha256(files[res["name"]]).hexdigest()
    assert res["first"] == expected and res["again"] == expected
    size = len(files[res["name"]])
    assert res["loaded"] >= size and res["still_mapped"] >= size
    assert res["released"] == 0
    served = emu.object_stats(bucket, "release/" + res["name"])["bytes_sent"]
    assert served == 2 * size  # fetched again after the release, not before
