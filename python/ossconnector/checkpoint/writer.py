"""CheckpointWriter: the upload stream ``OssCheckpoint.writer`` returns.

An :class:`ossconnector.writer.ObjectWriter` (parts upload concurrently
while torch serialises; the object appears only on a clean close) whose
failure is sticky: the write that finds the upload broken raises, later
writes are discarded, and ``close()`` raises the same error again instead
of returning as if the object had been saved.

Discarding later writes matters for ``torch.save``: when a write raises,
torch still writes the zip's central directory on its way out and, if that
fails too, reports a confusing "unexpected pos" RuntimeError in place of
the real cause.
"""

from __future__ import annotations

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
        if self._failure is not None:
            # Already reported; the upload is aborted, nothing can commit.
            return memoryview(data).nbytes
        try:
            return super().write(data)
        except Exception as e:
            self._failure = e
            raise

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
