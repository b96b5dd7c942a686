from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

from geoarena.models import TINY_NET
from geoarena.models.nets import (
    ARCHITECTURES,
    CheckpointError,
    NetOutput,
    create_model,
    load_checkpoint,
    load_model,
    model_state,
)


def tiny(arch: str):
    """The tiny network of ``TINY_NET`` (timm's ``test_resnet`` encoder), random weights."""
    net = TINY_NET
    kwargs = (
        {
            "decoder_channels": tuple(net["decoder_channels"]),
            "aspp_channels": net["aspp_channels"],
            "aspp_rates": tuple(net["aspp_rates"]),
        }
        if arch == "unet_aspp"
        else {"fpn_channels": net["fpn_channels"]}
    )
    return create_model(arch, net["encoder"], **kwargs)


class BaseNetTester:
    """Checks every architecture must pass; subclasses set ``arch``."""

    arch: str

    @pytest.mark.parametrize("size", [(64, 64), (67, 45), (33, 97), (1, 3, 31, 32)])
    def test_output_shapes_for_odd_sizes(self, size):
        shape = size if len(size) == 4 else (2, 3, *size)
        model = tiny(self.arch).eval()
        with torch.no_grad():
            out = model(torch.randn(shape))
        assert isinstance(out, NetOutput)
        assert out.mask.shape == (shape[0], 1, *shape[2:])
        assert out.energy.shape == (shape[0], 1, *shape[2:])

    def test_backward_reaches_every_parameter(self):
        model = tiny(self.arch)
        out = model(torch.randn(2, 3, 48, 48))
        (out.mask.mean() + out.energy.mean()).backward()
        missing = [n for n, p in model.named_parameters() if p.grad is None]
        assert not missing
        assert all(torch.isfinite(p.grad).all() for p in model.parameters())

    def test_checkpoint_rebuilds_the_same_network(self, tmp_path: Path):
        torch.manual_seed(0)
        model = tiny(self.arch).eval()
        path = tmp_path / "net.pt"
        torch.save({**model_state(model), "note": "extra metadata survives"}, path)
        rebuilt, meta = load_model(path)
        x = torch.randn(1, 3, 40, 40)
        with torch.no_grad():
            assert torch.equal(model(x).mask, rebuilt(x).mask)
        assert meta["arch"] == self.arch and meta["note"] == "extra metadata survives"
        assert "state_dict" not in meta


class TestUNetASPP(BaseNetTester):
    arch = "unet_aspp"


class TestFPN(BaseNetTester):
    arch = "fpn"


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
@pytest.mark.parametrize("encoder", ["test_convnext", "test_efficientnet"])
def test_other_timm_encoders_plug_in(arch: str, encoder: str):
    """Encoders whose first feature is at stride 4 (ConvNeXt) or 2 (EfficientNet) both fit."""
    kwargs = {"aspp_channels": 16} if arch == "unet_aspp" else {"fpn_channels": 16}
    model = create_model(arch, encoder, **kwargs).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 67, 45))
    assert out.mask.shape == out.energy.shape == (1, 1, 67, 45)


def test_registry_and_errors(tmp_path: Path):
    assert set(ARCHITECTURES) == {"unet_aspp", "fpn"}
    with pytest.raises(KeyError, match="unknown architecture 'segformer'"):
        create_model("segformer", "test_resnet")
    with pytest.raises(ValueError, match="cannot build timm encoder 'no_such_net'"):
        create_model("unet_aspp", "no_such_net")
    with pytest.raises(ValueError, match=r"cannot build timm encoder 'test_vit'.*stride 16"):
        create_model("unet_aspp", "test_vit")
    with pytest.raises(ValueError, match="decoder channel"):
        create_model("unet_aspp", "test_resnet", decoder_channels=(8, 8))
    with pytest.raises(FileNotFoundError, match="pretrained weights file not found"):
        create_model("unet_aspp", "test_resnet", pretrained=tmp_path / "none.pth")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
    (tmp_path / "other.pt").write_bytes(b"")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a geoarena detector checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_none_kwargs_keep_defaults():
    model = create_model("unet_aspp", "test_resnet", decoder_channels=None, aspp_channels=16)
    assert model.aspp.project[0].out_channels == 16
    assert model.heads.mask[-1].in_channels == 32  # last default decoder channel count


def test_local_pretrained_weights_are_loaded(tmp_path: Path):

    source = timm.create_model("test_resnet", pretrained=False)
    torch.nn.init.constant_(source.conv1[0].weight, 0.125)
    path = tmp_path / "test_resnet.pth"
    torch.save(source.state_dict(), path)
    model = create_model("unet_aspp", "test_resnet", pretrained=path, aspp_channels=16)
    weight = dict(model.encoder.model.named_parameters())["conv1.0.weight"]
    assert torch.all(weight == 0.125)
    assert "pretrained" not in model.build_kwargs  # checkpoints never point at the file


@pytest.mark.slow
def test_full_seresnext50_unet_aspp_runs_on_cpu():
    model = create_model("unet_aspp", "seresnext50_32x4d").eval()
    assert model.encoder.out_channels[-1] == 2048
    with torch.no_grad():
        out = model(torch.randn(1, 3, 65, 63))
    assert out.mask.shape == out.energy.shape == (1, 1, 65, 63)
