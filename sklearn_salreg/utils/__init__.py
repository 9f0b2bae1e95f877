"""Utilities shared by the stages."""

from ._parallel import map_images

__all__ = ["map_images"]
