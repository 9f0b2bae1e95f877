"""
Expanding Gaussian Mixtures at work
===================================

Figure 3 of the paper shows EGM regions forming over iterations on the feature
saliency map of one image: starting from one small component per position, E- and
M-steps average locally while the P-step purges overlapping components, until a few
regions remain. The same on a photo that scikit-image ships, with the embedded
EfficientNet-Lite0 backbone.
"""

import matplotlib.pyplot as plt
from skimage.data import coffee

from sklearn_salreg import feature_saliency
from sklearn_salreg.extraction import ActivationExtractor
from sklearn_salreg.plotting import plot_egm_iterations

image = coffee()
maps = ActivationExtractor(max_side=512).fit().transform([image])
F = feature_saliency(maps[0])
print(f"activation map {maps[0].shape}, feature saliency {F.shape}")
plot_egm_iterations(image, F, rho=5.0, tau=0.4, sigma=2.5)
plt.show()
