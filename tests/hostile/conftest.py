"""Fixtures for the hostile-input suite: a second, unprivileged user.

Several attacks need two users: another uid plants a file, directory or
symlink, and our code then runs as root (or as us).  Tests create nothing
in /etc/passwd: the other user is a bare uid/gid pair that no account
uses, and ``as_other`` runs a command (or a Python snippet) under it with
``setpriv``.  Tests that need it are skipped when we are not root."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "preload"))

from tests_helpers import tmp_path_on_tmpfs  # noqa: E402,F401 (tmp_path on /dev/shm)

OTHER_UID = 54321  # no account on a test machine uses it


def _uid_taken(uid: int) -> bool:
    import pwd
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


class OtherUser:
    """A uid/gid that is not ours; ``run`` executes argv as that user."""

    def __init__(self, uid: int):
        self.uid = uid
        self.gid = uid

    def run(self, argv, check=True, timeout=60, **kw):
        cmd = ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
               "--"] + list(argv)
        return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True,
                              text=True, **kw)

    def python(self, code: str, **kw):
        return self.run([sys.executable, "-c", code], **kw)

    def chown(self, path):
        os.chown(path, self.uid, self.gid)


@pytest.fixture
def other_user():
    if os.geteuid() != 0:
        pytest.skip("needs root to act as a second user")
    if _uid_taken(OTHER_UID):
        pytest.skip(f"uid {OTHER_UID} belongs to an account here")
    return OtherUser(OTHER_UID)
