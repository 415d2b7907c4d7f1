"""Drop-in package under the product name (model connector); see ossconnector.model."""

from ossconnector.model import (
    Connector,
    DataObject,
    DataObjectInfo,
    OssModelConnector,
    new_oss_connector,
)

__all__ = ["DataObject", "DataObjectInfo", "Connector", "new_oss_connector", "OssModelConnector"]
