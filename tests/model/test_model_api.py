"""The drop-in package ``ossmodelconnector``: the product's documented
names and signatures (its stub and python_apis.md)."""

import inspect

import ossmodelconnector


def params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def test_names():
    assert set(ossmodelconnector.__all__) == {"DataObject", "DataObjectInfo", "Connector",
                                              "new_oss_connector", "OssModelConnector"}
    for name in ossmodelconnector.__all__:
        assert getattr(ossmodelconnector, name) is not None


def test_signatures():
    M = ossmodelconnector.OssModelConnector
    empty = inspect.Parameter.empty
    assert params(M.__init__)[:5] == [("self", empty), ("endpoint", empty), ("cred_path", ""),
                                      ("config_path", ""), ("cred_provider", None)]
    assert params(M.open) == [("self", empty), ("uri", empty), ("binary", True)]
    assert params(M.list) == [("self", empty), ("bucket", empty), ("prefix", empty),
                              ("fast", False)]
    assert params(M.prepare_directory) == [("self", empty), ("uri", empty), ("dir", empty),
                                           ("libc_hook", False)]
    assert params(M.close) == [("self", empty)]
    C = ossmodelconnector.Connector
    assert [n for n, _ in params(C.open)] == ["self", "uri", "prefetch", "userfault", "binary"]
    assert [n for n, _ in params(C.prepare_directory)] == ["self", "uri", "dir", "libc"]
    assert [n for n, _ in params(C.list)] == ["self", "bucket", "prefix", "fast"]
    assert [n for n, _ in params(ossmodelconnector.new_oss_connector)] == [
        "endpoint", "cred", "config_path"]
    D = ossmodelconnector.DataObject
    for method in ("__enter__", "__exit__", "tell", "seek", "read", "readline", "readinto",
                   "mmap", "close", "size"):
        assert callable(getattr(D, method)), method
    info = ossmodelconnector.DataObjectInfo("k", 3)
    assert (info.key, info.size) == ("k", 3)


def test_documented_example_and_factory(emu, bucket, cred_file, config_file):
    """python_apis.md's calls, positionally, through both entry points."""
    emu.put_object(bucket, "dir1/obj1", b"line one\nline two\n")
    c = ossmodelconnector.OssModelConnector(endpoint=emu.endpoint, cred_path=cred_file,
                                            config_path=config_file)
    objs = c.list(bucket, "dir1/", True)
    assert [(o.key, o.size) for o in objs] == [("dir1/obj1", 18)]
    obj = c.open(f"oss://{bucket}/dir1/obj1")
    assert obj.read(4) == b"line"
    obj1 = c.open(f"oss://{bucket}/dir1/obj1", False)
    assert obj1.readline() == "line one\n"
    c.close()
    low = ossmodelconnector.new_oss_connector(emu.endpoint, cred_file, config_file)
    with low.open(f"oss://{bucket}/dir1/obj1", True, False, True) as o:
        assert o.readline(100) == b"line one\n"
    assert [o.key for o in low.list(bucket, "dir1/", False)] == ["dir1/obj1"]
    low.close()


def test_bad_constructor_arguments(tmp_path):
    import pytest

    with pytest.raises(ValueError, match="endpoint"):
        ossmodelconnector.OssModelConnector("")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        ossmodelconnector.OssModelConnector("http://127.0.0.1:1",
                                            cred_path=str(tmp_path / "nope.json"))
