"""The plugin's ``--model-loader-extra-config`` keys and their defaults
(no vLLM needed: the settings module does not import it)."""

import json
import os

import pytest

from ossconnector.vllm_plugin import LoaderSettings

ENV = {"OSS_ENDPOINT": "http://127.0.0.1:9", "OSS_ACCESS_KEY_ID": "id",
       "OSS_ACCESS_KEY_SECRET": "secret"}


def test_defaults_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    s = LoaderSettings.from_extra_config(None, env={**ENV, "OSS_REGION": "cn-beijing"})
    assert (s.endpoint, s.region, s.cred_path) == ("http://127.0.0.1:9", "cn-beijing", None)
    # One directory per URI, under the user's cache; every process computes the same.
    d = s.directory_for("oss://b/m/")
    assert d.startswith(str(tmp_path / "ossconnector" / "vllm")) and d == s.directory_for("oss://b/m/")
    assert d != s.directory_for("oss://b/other/")


def test_extra_config_wins_and_accepts_json_text(tmp_path):
    cred = tmp_path / "cred"
    cred.write_text("{}")
    extra = {"endpoint": "oss-cn-hangzhou.aliyuncs.com", "region": "cn-hangzhou",
             "cred_path": str(cred), "config_path": "/etc/x.json", "model_dir": str(tmp_path / "m"),
             "cache_dir": "/dev/shm", "small_file_size": 1 << 20}
    s = LoaderSettings.from_extra_config(json.dumps(extra), env=ENV)
    assert s == LoaderSettings(**extra)
    assert s.directory_for("oss://b/m/") == str(tmp_path / "m")
    assert s.prepare_options() == {"small_file_size": 1 << 20, "cache_dir": "/dev/shm"}


def test_credentials_file_in_home_when_the_environment_has_none(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    env = {"OSS_ENDPOINT": "http://127.0.0.1:9"}
    with pytest.raises(ValueError, match="no credentials"):
        LoaderSettings.from_extra_config({}, env=env)
    (tmp_path / ".alibabacloud").mkdir()
    (tmp_path / ".alibabacloud" / "credentials").write_text("{}")
    s = LoaderSettings.from_extra_config({}, env=env)
    assert s.cred_path == os.path.join(str(tmp_path), ".alibabacloud", "credentials")


@pytest.mark.parametrize("extra, message", [
    ({"endpont": "x"}, r"unknown key\(s\) \['endpont'\]"),
    ('{"endpoint": ', "not JSON"),
    ("[1]", "must be a JSON object"),
    ({"small_file_size": "4M"}, "'small_file_size' must be a positive number of bytes"),
    ({"small_file_size": 0}, "'small_file_size' must be a positive number of bytes"),
    ({"model_dir": ""}, "'model_dir' must be a non-empty string"),
    ({"cred_path": "/nonexistent/cred"}, "cred_path '/nonexistent/cred' is not a file"),
])
def test_bad_extra_config_is_named(extra, message):
    with pytest.raises(ValueError, match=message):
        LoaderSettings.from_extra_config(extra, env=ENV)


def test_no_endpoint_says_where_to_give_one():
    with pytest.raises(ValueError, match="no endpoint: set OSS_ENDPOINT"):
        LoaderSettings.from_extra_config({}, env={"OSS_ACCESS_KEY_ID": "id"})
