"""Fixtures for the ThreadSanitizer runs (`make tsan`): the preload test
helpers, tmp_path on tmpfs, and the TSan build named by the environment."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "preload"))

from tests_helpers import tmp_path_on_tmpfs  # noqa: E402,F401 (tmp_path on /dev/shm)
