"""Saliency maps: feature saliency (stage 1) and object saliency (stage 6)."""

from ._feature import FeatureSaliency, channel_weights, feature_saliency, normalize_saliency

__all__ = ["FeatureSaliency", "channel_weights", "feature_saliency", "normalize_saliency"]
