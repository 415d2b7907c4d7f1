"""Fixtures for the ossc tests: run the command in-process (main(argv))
with the emulator's connection options, capturing output."""

from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def conn(emu, cred_file, config_file):
    """The global options pointing at the emulator."""
    return ["--endpoint", emu.endpoint, "--cred-path", cred_file, "--config", config_file]


@pytest.fixture
def ossc(conn, config_file, capsys, monkeypatch):
    """ossc(*argv, connect=True) -> Result(code, out, err), run in-process.
    Without connect, no option is added, but $OSS_CONNECTOR_CONFIG still
    names the test config (logs stay in the test's directory)."""
    from ossconnector.cli import main

    for var in ("OSS_ENDPOINT", "OSS_REGION", "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET",
                "OSS_SESSION_TOKEN", "OSS_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OSS_CONNECTOR_CONFIG", config_file)

    def run(*argv, connect=True):
        capsys.readouterr()
        code = main([*(conn if connect else []), *argv])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
