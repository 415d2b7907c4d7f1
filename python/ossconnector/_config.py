"""Reading config.json from Python.

The C engine reads and validates the whole file when a :class:`Client` is
built; Python-side features (datasets, checkpoints) read the few keys they
need with :func:`load_config` and :func:`config_value`.  The file is found
the way the engine finds it: the given path, else ``$OSS_CONNECTOR_CONFIG``,
else ``/etc/oss-connector/config.json`` when it exists, else no file (every
key takes its default).
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

__all__ = ["DEFAULT_CONFIG_PATH", "config_path_in_use", "load_config", "config_value"]

DEFAULT_CONFIG_PATH = "/etc/oss-connector/config.json"

_MISSING = object()


def config_path_in_use(config_path: Optional[str] = None) -> Optional[str]:
    """The file the engine would read, or None when it would use defaults."""
    if config_path:
        return os.fspath(config_path)
    env = os.environ.get("OSS_CONNECTOR_CONFIG")
    if env:
        return env
    if os.path.exists(DEFAULT_CONFIG_PATH):
        return DEFAULT_CONFIG_PATH
    return None


def load_config(config_path: Optional[str] = None) -> dict:
    """The parsed config.json as a dict ({} when no file is in use).

    Raises FileNotFoundError for a path that was given (or set in
    ``$OSS_CONNECTOR_CONFIG``) but does not exist, and ValueError naming the
    file, line and column for malformed JSON or a top level that is not an
    object."""
    path = config_path_in_use(config_path)
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path}: no such file") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if hasattr(exc, "lineno") else ""
        raise ValueError(f"config file {path}: malformed JSON{where}: "
                         f"{getattr(exc, 'msg', exc)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"config file {path}: the top level must be a JSON object")
    return data


def config_value(config: dict, dotted_key: str, default: Any, *, kind: Optional[type] = None,
                 minimum: Optional[int] = None, maximum: Optional[int] = None,
                 path: str = "config.json") -> Any:
    """``config["a"]["b"]`` for ``"a.b"``, or ``default`` when absent.

    With ``kind`` the value must be of that type (``int`` rejects booleans
    and reals; ``bool`` only accepts true/false) and, for integers, lie in
    [minimum, maximum]; otherwise ValueError names the key and the file."""
    node: Any = config
    for part in dotted_key.split("."):
        if not isinstance(node, dict):
            return default
        node = node.get(part, _MISSING)
        if node is _MISSING:
            return default
    if kind is None:
        return node
    if kind is bool:
        ok = isinstance(node, bool)
    elif kind is int:
        ok = isinstance(node, int) and not isinstance(node, bool)
    else:
        ok = isinstance(node, kind)
    if not ok:
        raise ValueError(f"{path}: {dotted_key} must be {kind.__name__}, not {node!r}")
    if kind is int:
        if (minimum is not None and node < minimum) or (maximum is not None and node > maximum):
            raise ValueError(f"{path}: {dotted_key} = {node} is out of range "
                             f"[{minimum}, {maximum}]")
    return node
