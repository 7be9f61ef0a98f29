"""cnnlib.explain against independent sources: Captum (Grad-CAM, occlusion), finite
differences (saliency), hand-made models whose answers are known, a trained toy (FGSM)."""
import math

import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerAttribution, LayerGradCam, Occlusion
from hypothesis import given, settings, strategies as st
from torch import nn

from cnnlib import explain
from cnnlib.train import fit
from cnnlib.data import TensorLoader


def random_cnn(c_in: int, k1: int, k2: int, classes: int, seed: int, bn: bool = False) -> nn.Sequential:
    torch.manual_seed(seed)
    layers = [nn.Conv2d(c_in, k1, 3, padding=1), nn.ReLU()]
    if bn:
        layers.insert(1, nn.BatchNorm2d(k1))
    layers += [nn.Conv2d(k1, k2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
               nn.Linear(4 * k2, classes)]
    return nn.Sequential(*layers).double().eval()


shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(4, 12), st.integers(4, 12))


# ---------------------------------------------------------------- Grad-CAM vs Captum

@settings(max_examples=20, deadline=None)
@given(shape=shapes, k1=st.integers(1, 6), k2=st.integers(1, 6), classes=st.integers(2, 5),
       layer_index=st.sampled_from([0, 1, 2, 3]), relu=st.booleans(), seed=st.integers(0, 10_000))
def test_grad_cam_matches_captum(shape, k1, k2, classes, layer_index, relu, seed):
    n, c, h, w = shape
    model = random_cnn(c, k1, k2, classes, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    target = torch.randint(0, classes, (n,), generator=g)
    layer = model[layer_index]
    ours = explain.grad_cam(model, layer, x, target, relu=relu)
    theirs = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=relu)[:, 0].detach()
    assert ours.shape == (n, h, w)
    torch.testing.assert_close(ours, theirs, atol=1e-10, rtol=1e-8)
    up = explain.upsample_map(ours, (h + 3, 2 * w))
    ref = LayerAttribution.interpolate(theirs[:, None], (h + 3, 2 * w), interpolate_mode="bilinear")[:, 0]
    torch.testing.assert_close(up, ref, atol=1e-10, rtol=1e-8)
    if relu:
        assert (ours >= 0).all()


def test_grad_cam_int_target_batchnorm_model_in_training_mode_is_restored():
    model = random_cnn(1, 3, 4, 3, seed=1, bn=True).train()
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    a = explain.grad_cam(model, model[3], x, 2)
    assert model.training                                         # restored
    model.eval()
    b = LayerGradCam(model, model[3]).attribute(x, target=2, relu_attributions=True)[:, 0]
    torch.testing.assert_close(a, b.detach())
    assert all(p.grad is None for p in model.parameters())        # parameters untouched


def test_grad_cam_of_a_cam_network_is_cam():
    """With global average pooling + one linear layer, Grad-CAM = CAM (Zhou et al., 2016) / (h*w)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 5, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3)).double().eval()
    x = torch.rand(4, 1, 6, 7, dtype=torch.float64)
    acts = F.relu(conv.double()(x)).detach()
    cam = torch.einsum("k,nkhw->nhw", model[4].weight[1].detach(), acts) / (6 * 7)
    torch.testing.assert_close(explain.grad_cam(model, model[1], x, 1, relu=False), cam)


# ---------------------------------------------------------------- saliency vs finite differences

@settings(max_examples=15, deadline=None)
@given(shape=shapes, classes=st.integers(2, 4), seed=st.integers(0, 10_000))
def test_saliency_matches_finite_differences(shape, classes, seed):
    torch.manual_seed(seed)
    n, c, h, w = shape
    model = nn.Sequential(nn.Conv2d(c, 3, 3, padding=1), nn.Tanh(), nn.Flatten(),
                          nn.Linear(3 * h * w, classes)).double()
    x = torch.randn(shape, dtype=torch.float64)
    target = torch.randint(0, classes, (n,))
    grad = explain.saliency(model, x, target)
    assert grad.shape == x.shape
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (n - 1, c - 1, h - 1, w - 1), (n // 2, c // 2, h // 2, w // 3)]:
        e = torch.zeros_like(x)
        e[idx] = eps
        fd = (explain.class_scores(model, x + e, target) - explain.class_scores(model, x - e, target)) / (2 * eps)
        assert fd[idx[0]].item() == pytest.approx(grad[idx].item(), abs=1e-6)
        others = [i for i in range(n) if i != idx[0]]
        assert torch.allclose(fd[others], torch.zeros(len(others), dtype=torch.float64), atol=1e-6)  # images independent


def test_saliency_of_a_linear_model_is_its_weight_and_input_x_gradient():
    lin = nn.Linear(12, 3).double()
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.randn(2, 3, 2, 2, dtype=torch.float64)
    g = explain.saliency(model, x, [2, 0])
    torch.testing.assert_close(g[0].flatten(), lin.weight[2].detach())
    torch.testing.assert_close(g[1].flatten(), lin.weight[0].detach())
    torch.testing.assert_close(explain.input_x_gradient(model, x, [2, 0]), x * g)
    import numpy as np
    torch.testing.assert_close(explain.saliency(model, x, np.int64(2))[0], g[0])   # NumPy ints are ints


def test_smoothgrad_linear_model_is_exact_and_seeded():
    lin = nn.Linear(16, 2).double()
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(3, 1, 4, 4, dtype=torch.float64)
    sg = explain.smoothgrad(model, x, 1, samples=5, noise=0.3)
    torch.testing.assert_close(sg, explain.saliency(model, x, 1))           # gradient is constant
    relu_model = random_cnn(1, 3, 3, 2, seed=3)
    a = explain.smoothgrad(relu_model, x, 0, samples=4, seed=7)
    b = explain.smoothgrad(relu_model, x, 0, samples=4, seed=7)
    c = explain.smoothgrad(relu_model, x, 0, samples=4, seed=8)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(explain.smoothgrad(relu_model, x, 0, samples=2, noise=0.0),
                               explain.saliency(relu_model, x, 0))


# ---------------------------------------------------------------- occlusion

class PatchSum(nn.Module):
    """Hand-made model: class 0's score = sum of the pixels in rows 2-3, columns 4-5 (all channels);
    class 1's score = - sum of all pixels."""

    def forward(self, x):
        return torch.stack([x[:, :, 2:4, 4:6].flatten(1).sum(1), -x.flatten(1).sum(1)], dim=1)


def test_occlusion_on_a_hand_made_model_with_a_known_answer():
    x = torch.ones(2, 1, 8, 8, dtype=torch.float64)
    occ = explain.occlusion(PatchSum(), x, 0, patch=1, stride=1)
    expected = torch.zeros(8, 8, dtype=torch.float64)
    expected[2:4, 4:6] = 1.0            # hiding one of these pixels drops the score by exactly 1
    torch.testing.assert_close(occ, expected.expand(2, 8, 8))
    # class 1: hiding a 2x2 patch of ones RAISES the score by 4 everywhere -> -4 drop at every pixel
    occ1 = explain.occlusion(PatchSum(), x, 1, patch=2, stride=2)
    torch.testing.assert_close(occ1, torch.full((2, 8, 8), -4.0, dtype=torch.float64))
    # baseline = the pixels' own value: nothing changes
    assert explain.occlusion(PatchSum(), x, 0, patch=3, stride=2, baseline=1.0).abs().max() == 0


@settings(max_examples=15, deadline=None)
@given(shape=shapes, patch=st.integers(1, 5), stride=st.integers(1, 4), baseline=st.sampled_from([0.0, -0.5]),
       seed=st.integers(0, 10_000))
def test_occlusion_matches_captum(shape, patch, stride, baseline, seed):
    n, c, h, w = shape
    patch = min(patch, h, w)
    stride = min(stride, patch)          # Captum, like cnnlib, needs stride <= patch
    model = random_cnn(c, 3, 3, 3, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    target = torch.randint(0, 3, (n,), generator=g)
    ours = explain.occlusion(model, x, target, patch=patch, stride=stride, baseline=baseline, batch_size=37)
    theirs = Occlusion(model).attribute(x, sliding_window_shapes=(c, patch, patch), strides=(c, stride, stride),
                                        target=target, baselines=baseline)
    assert ours.shape == (n, h, w)
    torch.testing.assert_close(ours, theirs[:, 0].double(), atol=1e-6, rtol=1e-5)   # Captum averages in float32


# ---------------------------------------------------------------- layers, activation maximization

def test_layer_activations_and_top_activating():
    model = random_cnn(1, 4, 3, 2, seed=0)
    x = torch.rand(20, 1, 6, 6, dtype=torch.float64)
    a = explain.layer_activations(model, model[1], x)
    torch.testing.assert_close(a, F.relu(model[0](x)).detach())
    values, idx = explain.top_activating(model, model[1], x, channel=2, k=5, batch_size=7)
    ref = a[:, 2].flatten(1).amax(1).topk(5)
    torch.testing.assert_close(values, ref.values)
    assert torch.equal(idx, ref.indices)


def test_total_variation_and_roughness():
    x = torch.zeros(2, 1, 3, 3)
    x[0, 0, 1, 1] = 1.0          # one bright pixel: 4 edges of height 1
    assert explain.total_variation(x).tolist() == [4.0, 0.0]
    assert explain.roughness(x[:1, 0]).item() == 4.0
    smooth = torch.ones(1, 5, 5)
    assert explain.roughness(smooth).item() == 0.0
    assert explain.roughness(3 * x[:1, 0]).item() == explain.roughness(x[:1, 0]).item()   # scale-free


def test_activation_maximization_of_a_linear_model_finds_its_known_optimum():
    """Unregularized, in [0, 1], the input maximizing w_c . x is 1 where w_c > 0 and 0 elsewhere."""
    torch.manual_seed(0)
    lin = nn.Linear(36, 3)
    model = nn.Sequential(nn.Flatten(), lin)
    imgs = explain.activation_maximization(model, [0, 1, 2], shape=(1, 6, 6), steps=60, lr=0.1, l2=0.0, tv=0.0,
                                           jitter=0)
    assert imgs.shape == (3, 1, 6, 6)
    torch.testing.assert_close(imgs.flatten(1), (lin.weight.detach() > 0).float())
    smooth = explain.activation_maximization(model, [0, 1, 2], shape=(1, 6, 6), steps=60, lr=0.1, tv=1.0, jitter=1)
    assert (explain.total_variation(smooth) < explain.total_variation(imgs)).all()   # TV smooths


def test_activation_maximization_of_a_channel_with_a_known_optimum():
    """Channel 1 sums its 3x3 window with positive weights: its mean is largest for an all-white image."""
    conv = nn.Conv2d(1, 2, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(torch.stack([-torch.ones(1, 3, 3), torch.ones(1, 3, 3)]))
        conv.bias.fill_(0.1)
    model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(2 * 36, 3))
    chan = explain.activation_maximization(model, 1, shape=(1, 6, 6), layer=model[1], steps=40, lr=0.1,
                                           l2=0.0, tv=0.0)
    torch.testing.assert_close(chan, torch.ones(1, 1, 6, 6))
    model3 = random_cnn(1, 4, 4, 3, seed=2).float()
    with pytest.raises(ValueError, match="channels"):
        explain.activation_maximization(model3, 9, shape=(1, 10, 10), layer=model3[3], steps=1)


# ---------------------------------------------------------------- adversarial examples

def test_fgsm_on_a_linear_model_moves_the_margin_by_epsilon_times_l1():
    torch.manual_seed(0)
    lin = nn.Linear(9, 2).double()
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1])
    eps = 0.05
    adv = explain.fgsm(model, x, y, eps, clamp=None)
    margin = lambda v: (model(v).gather(1, y[:, None]) - model(v).gather(1, 1 - y[:, None]))[:, 0]  # noqa: E731
    w = lin.weight.detach()
    l1 = (w[0] - w[1]).abs().sum()
    torch.testing.assert_close(margin(x) - margin(adv), torch.full((4,), eps * l1.item(), dtype=torch.float64))
    assert (adv - x).abs().max().item() == pytest.approx(eps)


def _bars(n: int, seed: int):
    """Toy data: 8x8 images with a horizontal (class 0) or vertical (class 1) bar plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    pos = torch.randint(1, 7, (n,), generator=g)
    x = 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, pos[i], :] += 0.8
        else:
            x[i, 0, :, pos[i]] += 0.8
    return x.clamp(0, 1), y


def test_fgsm_and_pgd_lower_the_accuracy_of_a_trained_toy():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 2))
    x, y = _bars(512, seed=0)
    fit(model, TensorLoader(x, y, batch_size=64, shuffle=True), 10, torch.optim.Adam(model.parameters(), lr=1e-2),
        device="cpu", progress=False)
    xt, yt = _bars(256, seed=1)
    clean, attacked = explain.accuracy_under_attack(model, xt, yt, [0.0, 0.3])
    (strong,) = explain.accuracy_under_attack(model, xt, yt, [0.3], attack=explain.pgd, steps=10)
    assert clean >= 0.95
    assert attacked <= clean - 0.3
    assert strong <= attacked + 0.02


@settings(max_examples=12, deadline=None)
@given(shape=shapes, eps=st.floats(0.0, 0.5), steps=st.integers(1, 5), seed=st.integers(0, 1000))
def test_pgd_stays_in_the_ball_and_one_step_is_fgsm(shape, eps, steps, seed):
    model = random_cnn(shape[1], 3, 3, 3, seed).float()
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g)
    y = torch.randint(0, 3, (shape[0],), generator=g)
    adv = explain.pgd(model, x, y, eps, steps=steps, seed=seed)
    assert (adv - x).abs().max() <= eps + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    torch.testing.assert_close(explain.pgd(model, x, y, eps, steps=1, alpha=eps, random_start=False),
                               explain.fgsm(model, x, y, eps))


# ---------------------------------------------------------------- randomization, comparing maps

def test_randomize_layers_resets_only_the_named_layers():
    model = random_cnn(1, 3, 3, 2, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    state = torch.random.get_rng_state()
    r = explain.randomize_layers(model, ["6"], seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)          # global RNG untouched
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())   # original unchanged
    new = r.state_dict()
    assert not torch.equal(new["6.weight"], before["6.weight"])
    assert torch.equal(new["0.weight"], before["0.weight"]) and torch.equal(new["2.weight"], before["2.weight"])
    again = explain.randomize_layers(model, ["6"], seed=5).state_dict()
    assert torch.equal(again["6.weight"], new["6.weight"])           # seeded
    with pytest.raises(ValueError, match="names"):
        explain.randomize_layers(model, ["fc9"])


def _spearman_reference(u, v):
    def ranks(a):
        order = sorted(range(len(a)), key=lambda i: a[i])
        r = [0.0] * len(a)
        i = 0
        while i < len(a):
            j = i
            while j + 1 < len(a) and a[order[j + 1]] == a[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2
            i = j + 1
        return r
    ru, rv = ranks(u), ranks(v)
    mu, mv = sum(ru) / len(ru), sum(rv) / len(rv)
    num = sum((a - mu) * (b - mv) for a, b in zip(ru, rv))
    den = math.sqrt(sum((a - mu) ** 2 for a in ru) * sum((b - mv) ** 2 for b in rv))
    return num / den


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=3, max_size=30))
def test_spearman_with_ties_matches_the_textbook_definition(pairs):
    u = [float(a) for a, _ in pairs]
    v = [float(b) for _, b in pairs]
    got = explain.spearman(torch.tensor([u]), torch.tensor([v]))[0].item()
    if len(set(u)) == 1 or len(set(v)) == 1:
        assert math.isnan(got)
    else:
        assert got == pytest.approx(_spearman_reference(u, v), abs=1e-12)


def test_spearman_is_rank_based():
    a = torch.randn(3, 10)
    torch.testing.assert_close(explain.spearman(a, a.exp() * 5), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(explain.spearman(a, -a), -torch.ones(3, dtype=torch.float64))


def test_top_fraction_mask_peak_inside_and_iou():
    m = torch.arange(16.0).reshape(1, 4, 4)
    mask = explain.top_fraction_mask(m, 0.25)
    assert mask.sum() == 4 and mask[0, 3].all()                       # the 4 largest: the last row
    assert explain.peak_inside(m, m, 0.1).tolist() == [True]
    assert explain.peak_inside(-m, m, 0.5).tolist() == [False]        # peak of -m is the smallest pixel
    a = torch.zeros(2, 2, 2, dtype=torch.bool)
    b = a.clone()
    a[0, 0, 0] = a[0, 0, 1] = b[0, 0, 1] = True
    assert explain.mask_iou(a, b).tolist() == [0.5, 1.0]              # empty vs empty counts as equal


# ---------------------------------------------------------------- bad input

def test_bad_input_is_rejected_before_any_work():
    model = random_cnn(1, 3, 3, 3, seed=0).float()
    x = torch.rand(2, 1, 6, 6)
    y = torch.tensor([0, 1])
    with pytest.raises(TypeError, match="model"):
        explain.saliency("net", x, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, C, H, W\)"):
        explain.saliency(model, x[0], 0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        explain.saliency(model, x.numpy(), 0)
    with pytest.raises(TypeError, match="floating"):
        explain.saliency(model, x.long(), 0)
    with pytest.raises(ValueError, match=r"target must be an int or have shape \(2,\)"):
        explain.saliency(model, x, [0, 1, 2])
    with pytest.raises(TypeError, match="target"):
        explain.saliency(model, x, torch.tensor([0.5, 1.0]))
    with pytest.raises(ValueError, match="target must be < num_classes = 3"):
        explain.saliency(model, x, 3)
    with pytest.raises(ValueError, match="non-negative"):
        explain.grad_cam(model, model[1], x, -1)
    with pytest.raises(ValueError, match="submodule"):
        explain.grad_cam(model, nn.ReLU(), x, 0)
    with pytest.raises(ValueError, match="feature maps"):
        explain.grad_cam(model, model[6], x, 0)
    with pytest.raises(ValueError, match="patch must fit"):
        explain.occlusion(model, x, 0, patch=7)
    with pytest.raises(ValueError, match="stride"):
        explain.occlusion(model, x, 0, stride=0)
    with pytest.raises(ValueError, match="stride must be at most the patch"):
        explain.occlusion(model, x, 0, patch=2, stride=3)
    with pytest.raises(TypeError, match="baseline"):
        explain.occlusion(model, x, 0, baseline="black")
    with pytest.raises(ValueError, match="epsilon"):
        explain.fgsm(model, x, y, -0.1)
    with pytest.raises(ValueError, match="y must be an int64 tensor of shape"):
        explain.fgsm(model, x, torch.tensor([0]), 0.1)
    with pytest.raises(ValueError, match="samples"):
        explain.smoothgrad(model, x, 0, samples=0)
    with pytest.raises(ValueError, match="noise"):
        explain.smoothgrad(model, x, 0, noise=-1.0)
    with pytest.raises(ValueError, match="steps"):
        explain.pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="fraction"):
        explain.top_fraction_mask(torch.rand(1, 3, 3), 0.0)
    with pytest.raises(ValueError, match="maps must have shape"):
        explain.roughness(torch.rand(3, 3))
    with pytest.raises(ValueError, match="all zero"):
        explain.roughness(torch.zeros(1, 3, 3))
    with pytest.raises(TypeError, match="boolean"):
        explain.mask_iou(torch.rand(1, 2, 2), torch.rand(1, 2, 2))
    with pytest.raises(ValueError, match="same shape"):
        explain.spearman(torch.rand(2, 4), torch.rand(2, 5))
    with pytest.raises(ValueError, match="k must be at most"):
        explain.top_activating(model, model[1], x, channel=0, k=3)
    with pytest.raises(ValueError, match="channel must be <"):
        explain.top_activating(model, model[1], x, channel=5, k=1)
    with pytest.raises(ValueError, match="shape must be"):
        explain.activation_maximization(model, 0, shape=(6, 6))
    with pytest.raises(ValueError, match="clamp"):
        explain.activation_maximization(model, 0, shape=(1, 6, 6), clamp=(1.0, 0.0))
