"""The input data model: collections of activation maps and the fields stages add."""

from ._collection import FIELDS, MapCollection, as_collection
from ._disk import MapFile, MapWriter, write_maps
from ._manifest import CorruptStoreError, StaleStoreError, StoreLockedError
from ._regions import stack_regions
from ._validation import check_boxes, check_map, check_saliency_map

__all__ = ["CorruptStoreError", "FIELDS", "MapCollection", "MapFile", "MapWriter",
           "StaleStoreError", "StoreLockedError", "as_collection", "check_boxes", "check_map",
           "check_saliency_map", "stack_regions", "write_maps"]
