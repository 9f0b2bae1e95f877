"""
Why does an image match? Query, top results and region pairs
============================================================

A global descriptor is a normalised sum of region descriptors, so the cosine
similarity of a query and a database image splits exactly into one term per pair
(query region, database region) — see :ref:`explanations`. This example retrieves
with the Uniform (R-MAC) configuration on a tiny version of the built-in cluttered
benchmark (photos that scikit-image and scikit-learn ship; nothing is downloaded),
shows a query with its top results and their regions, then splits the score of the
best true match into region pairs with
:meth:`~sklearn_salreg.RegionAggregator.explain_match`.
"""

import matplotlib.pyplot as plt
import numpy as np

from sklearn_salreg import MapCollection
from sklearn_salreg.datasets import make_cluttered_instances
from sklearn_salreg.extraction import ActivationExtractor, box_to_activation
from sklearn_salreg.pipelines import make_uniform
from sklearn_salreg.plotting import plot_match_explanation, plot_retrieval_results

data = make_cluttered_instances(n_objects=4, n_views=3, n_distractors=4, image_size=(256, 320),
                                object_scale=(0.25, 0.4), random_state=0)
database = ActivationExtractor(max_side=320).fit().transform(data.images)
print(f"{len(database)} images, activation maps {database.map_shape(0)}")

# %%
# The query is described from its object box, as in the paper.
q = int(data.query_indices[0])
query = MapCollection([database[q]], boxes=[box_to_activation(
    data.query_boxes[0], data.images.shape[1:3], database.map_shape(q)[:2])])
pipe = make_uniform().fit(database)
scores = pipe.transform(database) @ pipe.transform(query)[0]
scores[q] = -np.inf  # the query image itself is not a result
ranking = np.argsort(-scores)
relevant = data.labels == data.labels[q]

X_db = pipe[:-1].transform(database)  # what the last step sees: maps and regions
X_q = pipe[:-1].transform(query)
plot_retrieval_results(
    data.images[q], data.images, ranking, scores=scores,
    regions=X_db.field("regions"), map_shapes=[database.map_shape(j)[:2] for j in
                                               range(len(database))],
    query_regions=X_q.field("regions")[0], query_map_shape=query.map_shape(0)[:2],
    relevant=relevant, true_boxes=data.boxes, query_box=data.query_boxes[0], top=4)
plt.show()

# %%
# The best-ranked true match, split into region pairs. The contributions sum to
# the score. The database image is coloured by the share its regions carry (each
# region's share spread over its cells); the strongest pairs are linked.
#
# With the plain sum of unwhitened ImageNet activations, every pair of regions is
# somewhat similar (non-negative vectors), so the score is spread thinly over all
# pairs: the strongest pairs carry little more than an average one. This is the
# clutter the paper's object saliency and whitening are meant to remove; compare
# the same figure with ``make_uniform(whitening=...)`` or an OS.EGM pipeline.
j = int(next(j for j in ranking if relevant[j]))
explanation = pipe[-1].explain_match(X_q, X_db, query=0, database=j)
print(f"score {explanation.score:.4f} = sum of {explanation.contributions.size} pair terms "
      f"{explanation.contributions.sum():.4f}")
for (r, s), share in zip(explanation.pairs[:3], explanation.shares[:3]):
    print(f"query region {explanation.query_boxes[r].tolist()} - database region "
          f"{explanation.database_boxes[s].tolist()}: {100 * share:.1f} %")
plot_match_explanation(data.images[q], data.images[j], explanation, top=5)
plt.show()
