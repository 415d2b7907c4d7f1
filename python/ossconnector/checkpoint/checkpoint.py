"""OssCheckpoint: streams for ``torch.save`` / ``torch.load`` on OSS.

    checkpoint = OssCheckpoint(endpoint=ENDPOINT, cred_path=CRED_PATH, config_path=CONFIG_PATH)
    with checkpoint.writer("oss://bucket/ckpt/epoch.1") as writer:
        torch.save(state_dict, writer)
    with checkpoint.reader("oss://bucket/ckpt/epoch.1") as reader:
        state_dict = torch.load(reader)

Nothing here imports torch: the streams work for any bytes, which makes
OssCheckpoint a fast uploader/downloader of arbitrary objects as well.
"""

from __future__ import annotations

from typing import Any, Optional

from ..client import Client, parse_uri
from .reader import CheckpointReader
from .writer import CheckpointWriter

__all__ = ["OssCheckpoint"]


class OssCheckpoint:
    """Opens checkpoint streams on one OSS endpoint.

    Args:
        endpoint: e.g. ``http://oss-cn-beijing-internal.aliyuncs.com``.
        cred_path: JSON credential file (``AccessKeyId``,
            ``AccessKeySecret``, optional ``SecurityToken``, ``Expiration``).
        config_path: config.json; ``checkpointConfig.prefetchWorker`` x
            ``prefetchConcurrency`` sizes the download concurrency,
            ``checkpointConfig.uploadConcurrency`` the parts a writer keeps
            in flight.
        cred_provider: an oss2 ``CredentialsProvider`` (or any object with
            ``get_credentials()``); takes precedence over ``cred_path``.
        region: e.g. ``cn-beijing``; inferred from ``oss-<region>...``
            endpoints; selects OSS V4 signing.

    Empty strings mean "not given", as in the product.  The connection is
    created here, so a bad endpoint, credential file or config fails at
    once with a message naming it.  The object pickles (for spawned
    workers) and rebuilds its connection after ``fork``.
    """

    def __init__(self, endpoint: str, cred_path: str = "", config_path: str = "",
                 cred_provider: Any = None, region: str = ""):
        if not endpoint:
            raise ValueError("OssCheckpoint: endpoint must be non-empty "
                             "(e.g. 'http://oss-cn-beijing-internal.aliyuncs.com')")
        self._client = Client(endpoint, cred_path=cred_path or None,
                              cred_provider=cred_provider, config_path=config_path or None,
                              region=region or None, profile="checkpoint")

    @property
    def client(self) -> Client:
        """The underlying :class:`ossconnector.Client` (profile
        ``"checkpoint"``), for listing, deleting or copying checkpoints."""
        return self._client

    def reader(self, oss_uri: str, *, size: Optional[int] = None) -> CheckpointReader:
        """A seekable read-only stream of ``oss_uri`` (``torch.load`` accepts
        it).  Raises FileNotFoundError at once when the object does not
        exist; ``size`` skips the HEAD request when it is already known."""
        bucket, key = _object(oss_uri)
        if size is None:
            size = self._client.stat(oss_uri).size
        return CheckpointReader(self._client, bucket, key, size)

    def writer(self, oss_uri: str) -> CheckpointWriter:
        """A write-only stream that becomes ``oss_uri`` when it is closed
        without error.  Parts are uploaded concurrently while the caller
        writes; an exception inside ``with`` (or ``abort()``) discards the
        upload and leaves any previous object untouched."""
        bucket, key = _object(oss_uri)
        return CheckpointWriter(self._client, bucket, key)

    def close(self) -> None:
        """Stops the engine's threads; open streams must be closed first."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"OssCheckpoint(endpoint={self._client.endpoint!r})"


def _object(oss_uri: str) -> tuple:
    bucket, key = parse_uri(oss_uri)
    if not key or key.endswith("/"):
        raise ValueError(f"not an object URI (oss://bucket/key expected): {oss_uri!r}")
    return bucket, key
