"""The plugin's knobs: ``--model-loader-extra-config`` JSON, validated once.

Every key is optional; each falls back to where the rest of the package
looks (docs/vllm.md lists them):

| key | default |
| --- | --- |
| ``endpoint`` | ``$OSS_ENDPOINT`` (required from one or the other) |
| ``region`` | ``$OSS_REGION``, else inferred from the endpoint |
| ``cred_path`` | ``$OSS_ACCESS_KEY_ID``/``$OSS_ACCESS_KEY_SECRET`` when set, else ``~/.alibabacloud/credentials`` |
| ``config_path`` | ``$OSS_CONNECTOR_CONFIG``, else ``/etc/oss-connector/config.json`` when present |
| ``model_dir`` | ``$XDG_CACHE_HOME`` (``~/.cache``) ``/ossconnector/vllm/<hash of the URI>`` |
| ``cache_dir`` | ``$OSSC_CACHE_DIR``, else ``/dev/shm`` |
| ``small_file_size`` | ``$OSSC_SMALL_FILE_SIZE``, else 4 MiB |

The same settings are rebuilt in every vLLM process from the same JSON (it
travels inside vLLM's config), so the API server and the workers agree on
the directory without talking to each other.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from typing import Any, Mapping, Optional

__all__ = ["LoaderSettings", "LOAD_FORMAT"]

LOAD_FORMAT = "oss"


def _default_model_dir(uri: str) -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(uri.encode("utf-8")).hexdigest()[:16]
    return os.path.join(cache, "ossconnector", "vllm", digest)


@dataclasses.dataclass(frozen=True)
class LoaderSettings:
    """Where the model is and how to reach it; see the module docstring."""

    endpoint: str
    region: Optional[str] = None
    cred_path: Optional[str] = None
    config_path: Optional[str] = None
    model_dir: Optional[str] = None
    cache_dir: Optional[str] = None
    small_file_size: Optional[int] = None

    def __post_init__(self):
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise ValueError("--load-format oss: no endpoint: set OSS_ENDPOINT or give "
                             "--model-loader-extra-config '{\"endpoint\": \"oss-cn-hangzhou-"
                             "internal.aliyuncs.com\"}'")
        for name in ("region", "cred_path", "config_path", "model_dir", "cache_dir"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"--model-loader-extra-config: {name!r} must be a non-empty "
                                 f"string, not {value!r}")
        size = self.small_file_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
            raise ValueError("--model-loader-extra-config: 'small_file_size' must be a positive "
                             f"number of bytes, not {size!r}")
        if self.cred_path is not None and not os.path.isfile(self.cred_path):
            raise ValueError(f"--model-loader-extra-config: cred_path {self.cred_path!r} "
                             "is not a file")

    @classmethod
    def from_extra_config(cls, extra: Any, env: Mapping[str, str] = os.environ
                          ) -> "LoaderSettings":
        """Settings from vLLM's ``model_loader_extra_config`` (a dict, a
        JSON string or None) over the environment's defaults; a ValueError
        names an unknown key or a bad value."""
        if extra is None or extra == "":
            extra = {}
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except ValueError as exc:
                raise ValueError(f"--model-loader-extra-config is not JSON: {exc}") from None
        if not isinstance(extra, Mapping):
            raise ValueError("--model-loader-extra-config for --load-format oss must be a JSON "
                             f"object, not {type(extra).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(extra) - known)
        if unknown:
            raise ValueError(f"--model-loader-extra-config: unknown key(s) {unknown} for "
                             f"--load-format oss; known: {sorted(known)}")
        values = dict(extra)
        values.setdefault("endpoint", env.get("OSS_ENDPOINT", ""))
        values.setdefault("region", env.get("OSS_REGION") or None)
        if "cred_path" not in values and not env.get("OSS_ACCESS_KEY_ID"):
            default = os.path.expanduser("~/.alibabacloud/credentials")
            if not os.path.isfile(default):
                raise ValueError("--load-format oss: no credentials: set OSS_ACCESS_KEY_ID and "
                                 "OSS_ACCESS_KEY_SECRET, write ~/.alibabacloud/credentials, or "
                                 "give --model-loader-extra-config '{\"cred_path\": FILE}'")
            values["cred_path"] = default
        return cls(**values)

    def directory_for(self, uri: str) -> str:
        """The local directory vLLM is given for ``uri``."""
        return os.path.abspath(self.model_dir or _default_model_dir(uri))

    def connector(self):
        """A model connector for these settings (the caller closes it)."""
        from ..model import OssModelConnector

        return OssModelConnector(self.endpoint, cred_path=self.cred_path or "",
                                 config_path=self.config_path or "", region=self.region)

    def prepare_options(self) -> dict:
        """Keywords for ``prepare_directory`` (None: its own default)."""
        return {"small_file_size": self.small_file_size, "cache_dir": self.cache_dir}
