"""Utilities shared by the stages."""

from ._arrays import l2_normalize, rows_per_batch
from ._device import bfloat16_is_fast, check_device
from ._parallel import group_by_shape, map_batches, map_by_shape, map_images

__all__ = ["bfloat16_is_fast", "check_device", "group_by_shape", "l2_normalize", "map_batches",
           "map_by_shape", "map_images", "rows_per_batch"]
