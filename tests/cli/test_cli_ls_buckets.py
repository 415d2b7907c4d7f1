"""``ossc ls`` without a URI, and Client.list_buckets: the buckets the
credentials own, through the engine's ListBuckets."""

import json


def test_ls_without_uri_lists_buckets(ossc, bucket, emu):
    other = emu.create_bucket(bucket + "-two")
    try:
        r = ossc("ls")
        assert r.code == 0, r.err
        lines = r.out.splitlines()
        assert f"oss://{bucket}/" in lines and f"oss://{other}/" in lines
        names = [line[len("oss://"):-1] for line in lines]
        assert names == sorted(names)
        r = ossc("ls", "-s")
        assert r.out.splitlines()[-1] == f"{len(lines)} buckets"
    finally:
        emu.delete_bucket(other)


def test_client_list_buckets(client, bucket):
    names = client.list_buckets()
    assert bucket in names and names == sorted(names)


def test_ls_buckets_with_a_wrong_secret_says_so(ossc, conn, emu, tmp_path):
    bad = tmp_path / "bad-credentials"
    bad.write_text(json.dumps({"AccessKeyId": emu.access_key_id, "AccessKeySecret": "wrong"}))
    r = ossc("ls", "--cred-path", str(bad))
    assert r.code == 1 and r.out == ""
    assert "list buckets" in r.err and "SignatureDoesNotMatch" in r.err
    assert "secret is wrong" in r.err
