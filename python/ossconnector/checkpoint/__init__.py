"""Checkpoints on OSS.

* :class:`OssCheckpoint` (``checkpoint.py``): streams for ``torch.save`` /
  ``torch.load``, and fast upload/download of any object.  Does not
  import torch.
* :class:`OssFileSystem` (``dcp.py``): PyTorch Distributed Checkpoint
  storage writers and readers (imports torch).

Names are imported on first use.
"""

from .._lazy import lazy_exports

__all__ = ["OssCheckpoint", "CheckpointReader", "CheckpointWriter", "OssFileSystem", "OssDCPFileSystem",
           "OssStorageWriter", "OssStorageReader"]

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "OssCheckpoint": ".checkpoint",
    "CheckpointReader": ".reader",
    "CheckpointWriter": ".writer",
    "OssFileSystem": ".dcp",
    "OssDCPFileSystem": ".dcp",
    "OssStorageWriter": ".dcp",
    "OssStorageReader": ".dcp",
})
