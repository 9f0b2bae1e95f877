"""sklearn_salreg: clutter-robust global descriptors for instance retrieval.

Salient regions are detected on CNN activation maps (feature saliency + Expanding
Gaussian Mixtures), objects that recur across the database are discovered through
the Katz centrality of a region k-NN graph, and regions detected on the resulting
object saliency maps are pooled into one compact descriptor per image
(Simeoni, Iscen, Tolias, Avrithis, Chum: "Unsupervised object discovery for instance
recognition", WACV 2018).
"""

__version__ = "0.1.0.dev0"

from .collection import FIELDS, MapCollection, MapFile, MapWriter, write_maps

__all__ = [
    "FIELDS",
    "MapCollection",
    "MapFile",
    "MapWriter",
    "write_maps",
]
