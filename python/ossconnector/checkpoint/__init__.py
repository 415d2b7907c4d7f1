"""Checkpoints on OSS.

* :class:`OssCheckpoint` (``checkpoint.py``): streams for ``torch.save`` /
  ``torch.load``, and fast upload/download of any object.  Does not
  import torch.
* :class:`OssFileSystem` (``dcp.py``): PyTorch Distributed Checkpoint
  storage writers and readers (imports torch).

Names are imported on first use.
"""

__all__ = ["OssCheckpoint", "CheckpointReader", "CheckpointWriter", "OssFileSystem", "OssDCPFileSystem",
           "OssStorageWriter", "OssStorageReader"]

_LAZY = {
    "OssCheckpoint": "checkpoint",
    "CheckpointReader": "reader",
    "CheckpointWriter": "writer",
    "OssFileSystem": "dcp",
    "OssDCPFileSystem": "dcp",
    "OssStorageWriter": "dcp",
    "OssStorageReader": "dcp",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__():
    return sorted(__all__)
