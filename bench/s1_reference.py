"""A plain-PyTorch reconstruction of the released MixPath S1 supernet, for speed baselines only (not used by the library).

It follows the structure of the authors' CIFAR-10 S1 supernet as published: a 3x3 stem (32 channels, BN, ReLU6), 12
inverted-bottleneck layers (widths S1_WIDTHS, stride 2 at layers 2 and 5), each holding, per expansion rate (3, 6), a
1x1 expansion (conv, BN, ReLU6), four depthwise kernels (3, 5, 7, 9; conv, BN, ReLU6 each), a 1x1 projection and a BN
after it (one per active-path count with Shadow BN), a residual when shape allows; then a 1x1 conv to 1280 channels
(BN, ReLU6), global pooling and a linear classifier. Tensors stay in the default NCHW format, as in the released code.
The arch is given as this project's `mixpath_s1` arch (variant = rate index, paths = kernel indices).
"""
from __future__ import annotations
import torch
from torch import nn
from mixpath_lab.spaces import S1_STRIDE2, S1_WIDTHS

KERNELS, RATES, HEAD = (3, 5, 7, 9), (3, 6), 1280


def cbr(c_in, c_out, k=1, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU6(inplace=True))


class RefLayer(nn.Module):
    def __init__(self, c_in, c_out, stride, shadow_bn=True):
        super().__init__()
        self.residual = stride == 1 and c_in == c_out
        self.expand = nn.ModuleList(cbr(c_in, c_in * t) for t in RATES)
        self.dw = nn.ModuleList(nn.ModuleList(cbr(c_in * t, c_in * t, k, stride, c_in * t) for k in KERNELS)
                                for t in RATES)
        self.project = nn.ModuleList(nn.Conv2d(c_in * t, c_out, 1, bias=False) for t in RATES)
        self.bns = nn.ModuleList(nn.ModuleList(nn.BatchNorm2d(c_out) for _ in (KERNELS if shadow_bn else (0,)))
                                 for _ in RATES)

    def forward(self, x, choice):
        r, paths = choice.variant, choice.paths
        h = self.expand[r](x)
        h = sum(self.dw[r][p](h) for p in paths)
        bns = self.bns[r]
        out = bns[len(paths) - 1 if len(bns) > 1 else 0](self.project[r](h))
        return out + x if self.residual else out


class RefS1(nn.Module):
    def __init__(self, shadow_bn=True, n_classes=10):
        super().__init__()
        self.stem = cbr(3, S1_WIDTHS[0], 3)
        self.layers = nn.ModuleList(RefLayer(S1_WIDTHS[i], S1_WIDTHS[i + 1], 2 if i in S1_STRIDE2 else 1, shadow_bn)
                                    for i in range(12))
        self.head = cbr(S1_WIDTHS[-1], HEAD)
        self.classifier = nn.Linear(HEAD, n_classes)

    def forward(self, x, arch):
        x = self.stem(x)
        for layer, choice in zip(self.layers, arch): x = layer(x, choice)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(self.head(x), 1), 1))
