"""Utilities shared by the stages."""

from ._arrays import l2_normalize, rows_per_batch
from ._device import bfloat16_is_fast, check_device
from ._parallel import map_batches, map_images

__all__ = ["bfloat16_is_fast", "check_device", "l2_normalize", "map_batches", "map_images", "rows_per_batch"]
