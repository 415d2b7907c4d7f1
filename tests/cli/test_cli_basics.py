"""ossc: --help for every command, --version, usage errors (exit 2)."""

import subprocess
import sys

import pytest
from ossconnector.cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, main

COMMANDS = ["ls", "cp", "stat", "prepare", "prefetch", "doctor", "emulator", "tar"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "usage:" in out or "ossc emulator" in out
    assert "``" not in out  # reST markup is not shown


def test_top_level_help_lists_commands_and_exit_codes(capsys):
    assert main(["--help"]) == EXIT_OK
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out
    assert "Exit status: 0 done, 1 an operation failed, 2 usage error" in out


def test_version(capsys):
    from ossconnector import __version__

    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == f"ossc (ossconnector) {__version__}"


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == EXIT_USAGE
    assert "usage: ossc" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["rm"],
    ["sync", "only-one-arg"],
    ["ls", "oss://b/", "--no-such-option"],
    ["cp", "only-one-arg"],
    ["cp", "-j", "0", "a", "oss://b/k"],
    ["stat"],
])
def test_argparse_usage_errors_exit_2(argv, capsys):
    assert main(argv) == EXIT_USAGE
    assert "usage:" in capsys.readouterr().err


def test_missing_endpoint_is_a_usage_error(ossc):
    r = ossc("ls", "oss://bucket/", connect=False)
    assert r.code == EXIT_USAGE
    assert "no endpoint" in r.err and "OSS_ENDPOINT" in r.err


def test_missing_credentials_is_a_failure(ossc, emu, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.alibabacloud/credentials
    r = ossc("--endpoint", emu.endpoint, "ls", "oss://bucket/", connect=False)
    assert r.code == EXIT_FAILURE
    assert "no credentials" in r.err and "--cred-path" in r.err


def test_default_credential_file_and_env_options(ossc, emu, bucket, cred_file, monkeypatch,
                                                 tmp_path):
    """~/.alibabacloud/credentials is used when nothing else is given;
    OSS_ENDPOINT supplies the endpoint; options work after the command too."""
    home = tmp_path / "home"
    (home / ".alibabacloud").mkdir(parents=True)
    (home / ".alibabacloud" / "credentials").write_text(open(cred_file).read())
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OSS_ENDPOINT", emu.endpoint)
    emu.put_object(bucket, "a.txt", b"a")
    r = ossc("ls", f"oss://{bucket}/", connect=False)
    assert (r.code, r.out) == (0, f"oss://{bucket}/a.txt\n"), r.err
    monkeypatch.delenv("OSS_ENDPOINT")
    r = ossc("ls", "--endpoint", emu.endpoint, f"oss://{bucket}/", connect=False)
    assert r.code == 0 and r.out == f"oss://{bucket}/a.txt\n"


def test_python_m_entry_point_and_exit_status():
    proc = subprocess.run([sys.executable, "-m", "ossconnector.cli", "ls", "/not/oss"],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "OSS_ENDPOINT": "127.0.0.1:1"})
    assert proc.returncode == EXIT_USAGE
    assert "is not an OSS URI" in proc.stderr and proc.stdout == ""
