"""
Getting started
===============

The README's usage on small random maps: an FS.EGM pipeline built by hand, the
full object-discovery pipeline OS.EGM, queries described from a box, retrieval by
diffusion, and a grid search over the detector's parameters. Every stage is a
scikit-learn transformer; ``X`` is one non-negative activation map ``(h, w, c)`` per
image (a list of arrays, or a disk-backed :class:`~sklearn_salreg.MapCollection`).
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from sklearn_salreg import (EGMRegionDetector, FeatureSaliency, LearnedWhitening, MapCollection,
                            RegionAggregator, RegionMaxPooler)
from sklearn_salreg.model_selection import make_map_scorer
from sklearn_salreg.pipelines import make_os_egm
from sklearn_salreg.search import Diffusion

warnings.simplefilter("ignore")  # a few random maps have no salient region
maps = [np.random.default_rng(i).random((12, 16, 64), dtype=np.float32) for i in range(50)]

fs_egm = Pipeline([("fs", FeatureSaliency()), ("egm", EGMRegionDetector()),
                   ("pool", RegionMaxPooler()), ("agg", RegionAggregator())])
database = fs_egm.fit(maps).transform(maps)
print("FS.EGM descriptors:", database.shape, database.dtype)

# %%
# The full object-discovery pipeline. ``memory=`` caches the early steps, so that a
# grid search over later ones does not recompute them (a folder name works too).
os_egm = make_os_egm(region_whitening=LearnedWhitening(n_components=32))
database = os_egm.fit_transform(maps)
queries = os_egm.transform(MapCollection(maps[:3], boxes=[[2, 3, 10, 12]] * 3))
ranks = Diffusion(n_neighbors=10).fit(database).rank(queries)
print("OS.EGM descriptors:", database.shape, "; first query's top 5:", ranks[0, :5])

# %%
# Tuning the detector like any scikit-learn model: the scorer ranks every image of a
# test fold against the others and scores by mAP (labels: the object in each image).
labels = np.repeat(np.arange(10), 5)
search = GridSearchCV(fs_egm, {"egm__rho": [1, 5], "egm__sigma": [1.5, 2.5]},
                      scoring=make_map_scorer(), cv=3).fit(maps, labels)
print("best:", search.best_params_)

# %%
# The maps above are random, so their scores are those of chance. Synthetic maps in
# which small objects recur among clutter show what the stages do: the feature
# saliency of one map, its FS.EGM regions (red) and the object's true box (dashed).
from sklearn_salreg.datasets import make_object_maps

obj_maps, obj_labels, obj_boxes = make_object_maps(n_objects=4, n_views=4, n_channels=64,
                                               random_state=0)
i = int(np.flatnonzero(obj_labels >= 0)[0])
X = fs_egm[:2].transform(obj_maps[i:i + 1])
fig, ax = plt.subplots(figsize=(5, 3.4), layout="constrained")
shown = ax.imshow(X.field("feature_saliency")[0], cmap="viridis")
for (y0, x0, y1, x1), style in [*((b, "-") for b in X.field("regions")[0]),
                                *((b, "--") for b in obj_boxes[i])]:
    ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                               edgecolor="red" if style == "-" else "white", linestyle=style,
                               linewidth=1.5))
fig.colorbar(shown, ax=ax, label="feature saliency")
ax.set_title("FS map, FS.EGM regions (red), object box (white)", fontsize=9)
plt.show()
