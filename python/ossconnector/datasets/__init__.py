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

from .._lazy import lazy_exports

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

# Imported on first use, so ``python -m ossconnector.datasets.tar`` does not
# import its own module twice.
__getattr__, __dir__ = lazy_exports(__name__, __all__, {
    "DataObject": "._item",
    "OssClient": ".oss_client",
    "OssIterableDataset": ".iterable_dataset",
    "OssMapDataset": ".map_dataset",
    "ShuffleDataset": ".shuffle",
    "TarIndex": ".tar",
    "generate_tar_archive": ".tar",
    "imagenet_manifest_parser": ".manifest",
})
