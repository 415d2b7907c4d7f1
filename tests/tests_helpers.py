"""Plain helpers the test modules import (fixtures live in conftest.py)."""

from conftest import write_config as write_config_file  # noqa: F401
