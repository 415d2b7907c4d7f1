"""CheckpointWriter: the upload stream ``OssCheckpoint.writer`` returns.

An :class:`ossconnector.writer.ObjectWriter` (parts upload concurrently
while torch serialises; the object appears only on a clean close) that
reports upload failures from ``close()``, i.e. at the end of the ``with``
block, never from ``write``: once the upload has failed (and been
aborted), further writes are accepted and discarded, and ``close()``
raises the failure (every time until it has been raised once).

Raising from ``write`` would surface inside ``torch.save``'s zip writer,
which then fails on its way out with an unrelated "unexpected pos"
RuntimeError that hides the real cause (access denied, server down...).
"""

from __future__ import annotations

import copy
from typing import Optional

from ..writer import ObjectWriter

__all__ = ["CheckpointWriter"]


class CheckpointWriter(ObjectWriter):
    """Write-only stream becoming ``oss://bucket/key`` on a clean close;
    see the module docstring."""

    def __init__(self, client, bucket: str, key: str):
        super().__init__(client, bucket, key)
        self._failure: Optional[BaseException] = None

    def write(self, data) -> int:
        if self._failure is None:
            try:
                return super().write(data)
            except OSError as e:
                # The upload is aborted already; close() reports it.
                self._failure = _detached(e)
        return memoryview(data).nbytes

    @property
    def failed(self) -> bool:
        """True once the upload has failed (close() will raise)."""
        return self._failure is not None

    def close(self) -> None:
        """Commits the object; raises if the upload failed at any point."""
        failure, self._failure = self._failure, None
        if failure is not None:
            self.abort()
            raise failure
        super().close()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def _detached(e: BaseException) -> BaseException:
    """A copy of ``e`` without its traceback.  Keeping ``e`` itself would
    tie this writer to the frames of the failed write (and the buffers
    they export to the engine) in a reference cycle."""
    try:
        return copy.copy(e)
    except Exception:
        return OSError(str(e))
