"""Evaluation: mAP of rankings (Oxford/Paris, Revisited, INSTRE) and saliency precision."""

from ._average_precision import (average_precision, check_query_indices, is_distractor,
                                 label_average_precisions, label_gnd, mean_average_precision,
                                 revisited_map)
from ._saliency import saliency_precision

__all__ = ["average_precision", "check_query_indices", "is_distractor", "label_average_precisions",
           "label_gnd", "mean_average_precision", "revisited_map", "saliency_precision"]
