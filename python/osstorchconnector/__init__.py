"""Drop-in package under the product's import name: ``from osstorchconnector
import OssMapDataset, OssIterableDataset, OssCheckpoint, OssFileSystem, ...``
runs existing scripts unchanged on our engine.  Names are imported on first
use so that importing the package does not import torch."""

from ossconnector._lazy import lazy_exports

__all__ = [
    "OssIterableDataset",
    "OssMapDataset",
    "OssCheckpoint",
    "OssFileSystem",
    "OssDCPFileSystem",
    "OssStorageWriter",
    "OssStorageReader",
    "OssClient",
    "imagenet_manifest_parser",
    "generate_tar_archive",
]

__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "OssIterableDataset": "ossconnector.datasets.iterable_dataset",
    "OssMapDataset": "ossconnector.datasets.map_dataset",
    "imagenet_manifest_parser": "ossconnector.datasets.manifest",
    "generate_tar_archive": "ossconnector.datasets.tar",
    "OssClient": "ossconnector.datasets.oss_client",
    "OssCheckpoint": "ossconnector.checkpoint.checkpoint",
    "OssFileSystem": "ossconnector.checkpoint.dcp",
    # the names the product's published 1.2.x package exports for DCP
    "OssDCPFileSystem": "ossconnector.checkpoint.dcp",
    "OssStorageWriter": "ossconnector.checkpoint.dcp",
    "OssStorageReader": "ossconnector.checkpoint.dcp",
})
