"""ossc ls and ossc stat against the emulator."""

import json

import pytest


@pytest.fixture
def tree(emu, bucket):
    keys = {"models/qwen/config.json": b"{}", "models/qwen/model.safetensors": b"w" * 5000,
            "models/qwen/sub/extra.bin": b"e", "models/other.bin": b"o", "top.txt": b"t"}
    for key, data in keys.items():
        emu.put_object(bucket, key, data)
    return keys


def test_ls_folds_directories(ossc, bucket, tree):
    r = ossc("ls", f"oss://{bucket}/models/")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [f"oss://{bucket}/models/other.bin",
                                  f"oss://{bucket}/models/qwen/"]
    r = ossc("ls", f"oss://{bucket}")
    assert r.out.splitlines() == [f"oss://{bucket}/models/", f"oss://{bucket}/top.txt"]


def test_ls_recursive_long_human_summary(ossc, bucket, tree):
    r = ossc("ls", "-r", f"oss://{bucket}/models/qwen/")
    assert r.out.splitlines() == [f"oss://{bucket}/models/qwen/config.json",
                                  f"oss://{bucket}/models/qwen/model.safetensors",
                                  f"oss://{bucket}/models/qwen/sub/extra.bin"]
    r = ossc("ls", "-r", "-l", "-s", f"oss://{bucket}/models/qwen/")
    lines = r.out.splitlines()
    assert lines[1].split()[0] == "5000" and lines[1].endswith("model.safetensors")
    assert lines[-1] == "3 objects, 5003 bytes"
    r = ossc("ls", "-lH", f"oss://{bucket}/models/qwen/")
    assert "4.9 KiB" in r.out and "DIR" in r.out


def test_ls_fast_lists_the_same_sorted(ossc, bucket, tree):
    slow = ossc("ls", "-r", f"oss://{bucket}/")
    fast = ossc("ls", "-r", "--fast", f"oss://{bucket}/")
    assert fast.code == 0 and fast.out == slow.out and len(slow.out.splitlines()) == len(tree)


def test_ls_errors(ossc, bucket, tree):
    r = ossc("ls", f"oss://{bucket}/nothing-here")
    assert r.code == 1 and "no objects under" in r.err
    r = ossc("ls", "oss://no-such-bucket-x1/")
    assert r.code == 1 and "NoSuchBucket" in r.err and "bucket does not exist" in r.err
    r = ossc("ls", "/local/path")
    assert r.code == 2 and "not an OSS URI" in r.err
    r = ossc("ls", "oss:///key")
    assert r.code == 2 and "names no bucket" in r.err


def test_ls_empty_bucket_is_not_an_error(ossc, bucket):
    r = ossc("ls", f"oss://{bucket}/")
    assert (r.code, r.out) == (0, "")


def test_stat(ossc, bucket, tree):
    r = ossc("stat", f"oss://{bucket}/models/qwen/model.safetensors")
    assert r.code == 0, r.err
    fields = dict(line.split(":", 1) for line in r.out.splitlines())
    assert fields["size"].strip() == "5000"
    assert fields["uri"].strip() == f"oss://{bucket}/models/qwen/model.safetensors"
    assert fields["etag"].strip() and fields["mtime"].strip().endswith("Z")
    r = ossc("stat", "--json", f"oss://{bucket}/top.txt", f"oss://{bucket}/models/other.bin")
    docs = [json.loads(line) for line in r.out.splitlines()]
    assert [d["size"] for d in docs] == [1, 1] and docs[0]["key"] == "top.txt"


def test_stat_errors(ossc, bucket, tree):
    r = ossc("stat", f"oss://{bucket}/missing")
    assert r.code == 1 and "no such object" in r.err
    r = ossc("stat", f"oss://{bucket}/models/qwen")
    assert r.code == 1 and "a prefix with objects under it" in r.err
    r = ossc("stat", f"oss://{bucket}/top.txt", f"oss://{bucket}/missing")
    assert r.code == 1 and "size:  1" in r.out and "1 of 2 objects not found" in r.err
    r = ossc("stat", f"oss://{bucket}")
    assert r.code == 1 and "needs an object key" in r.err


def test_wrong_secret_is_explained(ossc, emu, bucket, tmp_path):
    bad = tmp_path / "bad"
    bad.write_text(json.dumps({"AccessKeyId": emu.access_key_id, "AccessKeySecret": "wrong"}))
    r = ossc("--cred-path", str(bad), "ls", f"oss://{bucket}/")
    assert r.code == 1
    assert "SignatureDoesNotMatch" in r.err and "access key secret is wrong" in r.err
