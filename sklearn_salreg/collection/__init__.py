"""The input data model: collections of activation maps and the fields stages add."""

from ._collection import FIELDS, MapCollection, as_collection
from ._disk import MapFile, MapWriter, write_maps
from ._validation import check_boxes, check_map, check_saliency_map

__all__ = [
    "FIELDS",
    "MapCollection",
    "MapFile",
    "MapWriter",
    "as_collection",
    "check_boxes",
    "check_map",
    "check_saliency_map",
    "write_maps",
]
