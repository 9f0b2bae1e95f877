"""Utilities shared by the stages."""

from ._arrays import l2_normalize, rows_per_batch
from ._parallel import map_images

__all__ = ["l2_normalize", "map_images", "rows_per_batch"]
