"""The paper's VGG-16 backbone: loading a torchvision-format state_dict from a local file, binarised fc7."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from index.errors import MmweError
from training.features.backbones import VGG16, load_vgg16_state, make_backbone

# torchvision's vgg16 state_dict keys and shapes (conv layers at features.{0,2,5,...}, classifier.{0,3,6})
CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg16-random.pth"
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in VGG16().state_dict().items()}
    # Random tensors; the two big fully connected weights repeat one random row (an expanded tensor saves only
    # that row), which keeps the file at ~75 MB instead of 528 MB while every layer still has to load.
    big = {"classifier.0.weight", "classifier.3.weight"}
    state = {
        k: torch.randn(1, s[1]).expand(s) if k in big else torch.randn(s) * 0.05 for k, s in shapes.items()
    }
    torch.save(state, path)
    return path


def test_architecture_matches_torchvision_names() -> None:
    with torch.device("meta"):
        state = VGG16().state_dict()
    assert [k for k in state if k.startswith("features.")] == [
        f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")
    ]
    assert state["classifier.0.weight"].shape == (4096, 25088)
    assert state["classifier.6.weight"].shape == (1000, 4096)
    assert sum(v.numel() for v in state.values()) == 138_357_544  # torchvision's vgg16 parameter count


def test_load_state_dict_file_and_binarised_features(weights: Path) -> None:
    backbone = make_backbone("vgg16", weights)
    assert backbone.dim == 4096 and backbone.binarised
    x = torch.randn(2, 3, 32, 32)  # tiny input: the adaptive pool makes any size >= 32 work
    with torch.inference_mode():
        feats = backbone.module.eval()(x)  # [2, 4096]
        real = make_backbone("vgg16", weights, binarise=False).module.eval()(x)
    assert feats.shape == (2, 4096)
    assert set(feats.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(feats, (real > 0).float())
    assert (real >= 0).all()  # fc7 is taken after its ReLU
    net = load_vgg16_state(weights)
    assert torch.equal(net.state_dict()["classifier.3.bias"], torch.load(weights)["classifier.3.bias"])


def test_bad_weight_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(MmweError, match="needs --weights"):
        make_backbone("vgg16")
    with pytest.raises(MmweError, match="not found"):
        make_backbone("vgg16", tmp_path / "absent.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(MmweError, match="junk.pth"):
        make_backbone("vgg16", junk)
    other = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, other)
    with pytest.raises(MmweError, match="not a torchvision VGG-16"):
        make_backbone("vgg16", other)
