"""PyTorch datasets over OSS (importing this package imports torch).

- :class:`OssIterableDataset`, :class:`OssMapDataset`: objects from a
  prefix, a URI list, a manifest or an indexed tar archive (and archive
  shards streamed without an index, for the iterable one).
- :class:`ShuffleDataset`: a shuffle buffer across shards.
- :func:`generate_tar_archive`: build a tar archive and its index
  (also ``python -m ossconnector.datasets.tar``).
- :func:`imagenet_manifest_parser`: ``key<TAB>label`` manifests.
- :class:`DataObject`: the items; :class:`OssClient`: the product's client
  class, for compatibility.

See docs/datasets.md.
"""

__all__ = [
    "DataObject",
    "OssClient",
    "OssIterableDataset",
    "OssMapDataset",
    "ShuffleDataset",
    "TarIndex",
    "generate_tar_archive",
    "imagenet_manifest_parser",
]

_HOME = {
    "DataObject": "._item",
    "OssClient": ".oss_client",
    "OssIterableDataset": ".iterable_dataset",
    "OssMapDataset": ".map_dataset",
    "ShuffleDataset": ".shuffle",
    "TarIndex": ".tar",
    "generate_tar_archive": ".tar",
    "imagenet_manifest_parser": ".manifest",
}


def __getattr__(name):
    # Imported on first use, so ``python -m ossconnector.datasets.tar`` does
    # not import its own module twice.
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'ossconnector.datasets' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home, __name__), name)


def __dir__():
    return sorted(__all__)
