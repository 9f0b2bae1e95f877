"""Stage 3 (region pooling) and the last stage (aggregation into a global descriptor)."""

from ._aggregate import RegionAggregator, aggregate_regions, region_masses
from ._max_pool import (RegionMaxPooler, region_max_pool, region_mean, region_sum_pool,
                        saliency_weighted_map)
from ._batch import region_pool_batch
from ._explain import explain_match

__all__ = ["RegionAggregator", "RegionMaxPooler", "aggregate_regions", "explain_match",
           "region_masses", "region_max_pool", "region_mean", "region_pool_batch", "region_sum_pool",
           "saliency_weighted_map"]
