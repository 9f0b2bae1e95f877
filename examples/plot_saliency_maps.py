"""
Feature saliency against object saliency
========================================

Figure 9 of the paper: for images with an object among clutter, the feature
saliency map (FS, from one image alone) with the regions EGM detects on it, and the
object saliency map (OS, from the objects that recur across the database) with its
regions. OS should move the mass onto the object (dashed white box): it comes from
the Katz centrality of the regions in a graph over the whole database, so a region
counts when similar regions recur in other images.

A tiny version of the built-in cluttered benchmark (photos that scikit-image and
scikit-learn ship), with the embedded EfficientNet-Lite0 backbone.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np

from sklearn_salreg import LearnedWhitening
from sklearn_salreg.datasets import make_cluttered_instances
from sklearn_salreg.extraction import ActivationExtractor, box_to_activation
from sklearn_salreg.metrics import saliency_precision
from sklearn_salreg.pipelines import make_os_egm
from sklearn_salreg.plotting import plot_saliency_examples

data = make_cluttered_instances(n_objects=5, n_views=4, n_distractors=6, image_size=(256, 320),
                                object_scale=(0.25, 0.4), random_state=0)
database = ActivationExtractor(max_side=320).fit().transform(data.images)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # maps without a salient region fall back to the whole map
    pipe = make_os_egm(region_whitening=LearnedWhitening(n_components=16, shrinkage=0.1),
                       random_state=0).fit(database)
    X = pipe[:-1].transform(database)  # every field up to the final regions
print(f"{len(database)} images, maps {database.map_shape(0)}, "
      f"{sum(len(r) for r in pipe[:-1].transform(database).field('regions'))} final regions")

# %%
# Saliency precision: the share of each map's mass inside the object box.
shown = [int(i) for i in np.flatnonzero(data.labels >= 0)]
fs_prec, os_prec = [], []
for i in shown:
    box = box_to_activation(data.boxes[i], data.images.shape[1:3], database.map_shape(i)[:2])
    fs_prec.append(saliency_precision(X.field("feature_saliency")[i], box))
    os_prec.append(saliency_precision(X.field("saliency")[i], box))
print(f"saliency precision over {len(shown)} object images: FS {100 * np.nanmean(fs_prec):.1f} %, "
      f"OS {100 * np.nanmean(os_prec):.1f} %")

# %%
# Four object images: FS with its FS.EGM regions, OS with its OS.EGM regions.
fs_regions = pipe[:2].transform(database).field("regions")
rows = shown[:4]
plot_saliency_examples([data.images[i] for i in rows],
                       [X.field("feature_saliency")[i] for i in rows],
                       [fs_regions[i] for i in rows],
                       [X.field("saliency")[i] for i in rows],
                       [X.field("regions")[i] for i in rows],
                       true_boxes=[data.boxes[i] for i in rows])
plt.show()
