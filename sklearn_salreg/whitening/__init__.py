"""Whitening of region and global descriptors (paper section 3.5)."""

from ._estimator import REGION_WHITENING, LearnedWhitening, make_region_whitening
from ._functions import apply_whitening, learn_whitening, pca_whitening
from ._pairs import mutual_neighbor_pairs, pairs_from_labels, region_pairs_from_labels

__all__ = ["REGION_WHITENING", "LearnedWhitening", "apply_whitening", "learn_whitening",
           "make_region_whitening", "mutual_neighbor_pairs", "pca_whitening", "pairs_from_labels",
           "region_pairs_from_labels"]
