"""The model connector: load models from OSS for inference.

``OssModelConnector`` (documented in docs/model_connector.md) opens objects
with whole-object prefetching in open order, lists (normally or fast), and
prepares local model directories whose large files are served from a
node-wide memory cache.  The drop-in package ``ossmodelconnector`` exports
the same names.
"""

from .connector import Connector, OssModelConnector, new_oss_connector
from .data_object import DataObject, DataObjectInfo, TextDataObject

__all__ = ["OssModelConnector", "Connector", "new_oss_connector", "DataObject",
           "DataObjectInfo", "TextDataObject"]
