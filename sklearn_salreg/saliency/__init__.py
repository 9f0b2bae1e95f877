"""Saliency maps: feature saliency (stage 1) and object saliency (stage 6)."""

from ._feature import (FeatureSaliency, channel_weights, feature_saliency, feature_saliency_batch,
                       normalize_saliency)
from ._object import (ObjectSaliency, neighbor_saliency, object_saliency, patch_descriptors,
                      patch_descriptors_batch)

__all__ = ["FeatureSaliency", "ObjectSaliency", "channel_weights", "feature_saliency",
           "feature_saliency_batch", "neighbor_saliency", "normalize_saliency", "object_saliency",
           "patch_descriptors", "patch_descriptors_batch"]
