"""cnnlib.models.autoencoder: shapes, parameter counts by hand, gradients, the unpooling indices."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.data import TensorLoader
from cnnlib.models.autoencoder import (
    METHODS,
    ConvAutoencoder,
    ConvEncoder,
    TransposeDecoder,
    UnpoolDecoder,
    UpsampleDecoder,
    build_autoencoder,
    doubling_padding,
    gaussian_noise,
)
from cnnlib.shapes import conv_transpose2d_output_size


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is much faster than two on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_params(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("code_dim", [None, 2])
def test_shapes(method, code_dim):
    model = build_autoencoder(method, (8, 4), code_dim=code_dim)
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 1, 28, 28)
    assert model.encode(x).shape == ((3, 4, 7, 7) if code_dim is None else (3, code_dim))


def test_other_sizes_and_channels():
    model = build_autoencoder("transpose", (6, 5), transpose_kernel=4, in_channels=3, size=32)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    assert model.encode(torch.rand(2, 3, 32, 32)).shape == (2, 5, 8, 8)


def test_parameter_counts_by_hand():
    c1, c2 = 8, 4
    encoder = conv_params(1, c1, 3) + conv_params(c1, c2, 3)
    same = conv_params(c2, c1, 3) + conv_params(c1, 1, 3)   # upsample/unpool + 3x3 conv, or 3x3 transposed
    assert encoder == 372 and same == 369
    for method in METHODS:
        assert n_params(build_autoencoder(method, (c1, c2))) == encoder + same, method
    assert n_params(build_autoencoder("transpose", (c1, c2), transpose_kernel=4)) == \
        encoder + conv_params(c2, c1, 4) + conv_params(c1, 1, 4) == 1021
    bottleneck = (c2 * 49 * 2 + 2) + (2 * c2 * 49 + c2 * 49)
    assert n_params(build_autoencoder("nearest", (c1, c2), code_dim=2)) == encoder + same + bottleneck


@pytest.mark.parametrize("k", range(1, 8))
def test_doubling_padding_doubles(k):
    p, op = doubling_padding(k)
    assert 0 <= op < 2
    for h in (1, 7, 14):
        assert conv_transpose2d_output_size(h, k, stride=2, padding=p, output_padding=op) == 2 * h
        deconv = nn.ConvTranspose2d(1, 1, k, stride=2, padding=p, output_padding=op)
        assert deconv(torch.zeros(1, 1, h, h)).shape[-1] == 2 * h


@pytest.mark.parametrize("method", METHODS)
def test_gradients_reach_every_parameter(method):
    torch.manual_seed(0)
    model = build_autoencoder(method, (8, 4), code_dim=3)
    x = torch.rand(4, 1, 28, 28)
    F.mse_loss(model(x), x).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_encoder_indices_match_maxpool():
    enc = ConvEncoder((8, 4))
    x = torch.rand(2, 1, 28, 28)
    code, (i1, i2) = enc(x)
    h1 = F.relu(enc.conv1(x))
    p1, j1 = F.max_pool2d(h1, 2, return_indices=True)
    assert torch.equal(i1, j1) and i1.shape == (2, 8, 14, 14) and i2.shape == (2, 4, 7, 7)
    assert torch.allclose(code, F.max_pool2d(F.relu(enc.conv2(p1)), 2))


def test_unpool_decoder_places_values_at_the_indices():
    torch.manual_seed(0)
    dec = UnpoolDecoder((8, 4))
    with torch.no_grad():
        dec.conv1.weight.zero_()
        dec.conv1.bias.fill_(1.0)       # every unpooled value becomes 1 after conv1 + ReLU
    enc = ConvEncoder((8, 4))
    x = torch.rand(1, 1, 28, 28)
    code, (i1, i2) = enc(x)
    seen = {}
    dec.conv2.register_forward_hook(lambda m, inp, out: seen.setdefault("in", inp[0]))
    dec(code, (i1, i2))
    expected = F.max_unpool2d(torch.ones(1, 8, 14, 14), i1, 2)
    assert torch.equal(seen["in"], expected)
    assert seen["in"].sum() == 8 * 14 * 14   # one non-zero per 2x2 window


def test_unpool_decoder_without_indices_explains():
    with pytest.raises(ValueError, match="pooling indices"):
        UnpoolDecoder((8, 4))(torch.rand(1, 4, 7, 7))


def test_upsample_and_transpose_decoders_ignore_indices():
    code = torch.rand(2, 4, 7, 7)
    for dec in (UpsampleDecoder((8, 4), "bilinear"), TransposeDecoder((8, 4), 4)):
        assert torch.equal(dec(code), dec(code, (None, None)))


def test_autoencoder_wraps_given_parts():
    enc, dec = ConvEncoder((8, 4)), UpsampleDecoder((8, 4))
    model = ConvAutoencoder(enc, dec)
    x = torch.rand(1, 1, 28, 28)
    assert torch.equal(model(x), dec(enc(x)[0]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(method="maxout"), "method must be one of"),
    (dict(method="nearest", channels=(8,)), "channels must be a pair"),
    (dict(method="nearest", channels=(8, 0)), "channels"),
    (dict(method="nearest", size=30), "divisible by 4"),
    (dict(method="transpose", transpose_kernel=0), "kernel_size"),
    (dict(method="nearest", code_dim=-1), "code_dim"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        build_autoencoder(**kwargs)


def test_bad_upsample_mode():
    with pytest.raises(ValueError, match="mode"):
        UpsampleDecoder((8, 4), mode="bicubic")


def test_gaussian_noise_is_reproducible_and_clipped():
    x = torch.rand(10, 1, 28, 28)
    batches = [next(iter(TensorLoader(x, x, 10, seed=3, transform=gaussian_noise(0.5))))[0] for _ in range(2)]
    assert torch.equal(batches[0], batches[1])
    assert batches[0].min() >= 0 and batches[0].max() <= 1 and not torch.equal(batches[0], x)
    raw = gaussian_noise(0.5, clip=False)(x, torch.Generator().manual_seed(0))
    assert raw.min() < 0 and abs((raw - x).std().item() - 0.5) < 0.02
    assert torch.equal(gaussian_noise(0.0)(x, torch.Generator()), x)
    with pytest.raises(ValueError, match="std"):
        gaussian_noise(-1)


def test_short_training_beats_the_mean_image():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(32, 1, 28, 28)
    for i in range(32):                       # bars at random positions: learnable, not constant
        r = int(torch.randint(2, 26, (1,), generator=g))
        x[i, 0, r - 2:r + 2, 4:24] = 1.0
    model = build_autoencoder("transpose", (8, 4), transpose_kernel=4)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(25):
        opt.zero_grad()
        loss = F.mse_loss(model(x), x)
        loss.backward()
        opt.step()
    baseline = F.mse_loss(x.mean(0, keepdim=True).expand_as(x), x).item()
    assert loss.item() < 0.5 * baseline
