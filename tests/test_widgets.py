"""cnnlib.widgets: the explorer's logic (which input cells each output reads, how often each
pixel is used) against F.unfold, and its drawings."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnlib import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@st.composite
def geometries(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    n = tuple(max(d[a] * (k[a] - 1) + 1 - 2 * p[a], 1) + draw(st.integers(0, 6)) for a in (0, 1))
    return n, k, p, s, d


def _unfold_indices(n, k, p, s, d):
    """F.unfold of an image whose pixel (r, c) holds r*W + c + 1 (0 on the padding): the
    input cell each (tap, output) reads, as unfold lays it out: (kH*kW, H_out*W_out)."""
    idx = torch.arange(1, n[0] * n[1] + 1, dtype=torch.float64).reshape(1, 1, *n)
    return F.unfold(idx, k, dilation=d, padding=p, stride=s)[0].round().long()


@settings(max_examples=150, deadline=None)
@given(geometries())
def test_conv_taps_match_unfold(geom):
    n, k, p, s, d = geom
    taps = widgets.conv_taps(n, k, p, s, d)                       # (H_out, W_out, kH, kW, 2)
    cols = _unfold_indices(n, k, p, s, d)
    h_out, w_out = taps.shape[:2]
    assert cols.shape == (k[0] * k[1], h_out * w_out)
    r, c = taps[..., 0], taps[..., 1]
    inside = (r >= 0) & (r < n[0]) & (c >= 0) & (c < n[1])
    ours = np.where(inside, r * n[1] + c + 1, 0)                   # same code, 0 on the padding
    ours = ours.reshape(h_out * w_out, k[0] * k[1]).T
    assert np.array_equal(ours, cols.numpy())
    assert (h_out, w_out) == F.conv2d(torch.zeros(1, 1, *n), torch.zeros(1, 1, *k), stride=s, padding=p,
                                      dilation=d).shape[2:]


@settings(max_examples=150, deadline=None)
@given(geometries())
def test_usage_counts_match_unfold_and_the_gradient(geom):
    n, k, p, s, d = geom
    counts = widgets.usage_counts(n, k, p, s, d)
    cols = _unfold_indices(n, k, p, s, d).flatten()
    by_unfold = torch.bincount(cols, minlength=n[0] * n[1] + 1)[1:].reshape(n)
    assert np.array_equal(counts, by_unfold.numpy())
    x = torch.ones(1, 1, *n, requires_grad=True)                  # the gradient trick of notebook 03
    F.conv2d(x, torch.ones(1, 1, *k), stride=s, padding=p, dilation=d).sum().backward()
    assert np.array_equal(counts, x.grad[0, 0].round().long().numpy())


def test_usage_counts_edges_underused_without_padding():
    c0 = widgets.usage_counts(6, 3)
    assert c0[0, 0] == 1 and c0[3, 3] == 9 and c0[0, 3] == 3
    c1 = widgets.usage_counts(6, 3, padding=1)
    assert c1[0, 0] == 4 and c1[3, 3] == 9
    assert (widgets.usage_counts(6, 3, padding=2) == 9).all()
    assert widgets.usage_counts(8, 3, stride=2)[:, -1].sum() == 0       # last column never read


def test_output_size_text():
    text = widgets.output_size_text(7, 3, padding=1, stride=2, dilation=2)
    assert text == "floor((7 + 2*1 - 2*(3-1) - 1) / 2) + 1 = floor(4 / 2) + 1 = 3"
    assert text.endswith(str(F.conv2d(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), stride=2, padding=1,
                                      dilation=2).shape[-1]))


@pytest.mark.parametrize("call, match", [
    (lambda: widgets.conv_taps(3, 5), "in_size too small"),
    (lambda: widgets.conv_taps(0, 3), "in_size"),
    (lambda: widgets.conv_taps(5, 3, padding=-1), "padding"),
    (lambda: widgets.conv_taps(5, 3, stride=0), "stride"),
    (lambda: widgets.usage_counts(5, 3, dilation=(1, 0)), r"dilation\[1\]"),
    (lambda: widgets.show_conv_step(5, 3, position=(3, 0)), "position"),
    (lambda: widgets.show_conv_frames(5, 3, frames=0), "frames"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()


def test_drawings():
    fig = widgets.show_conv_step(5, 3, padding=1, stride=2, position=(1, 2))
    red = [p for p in fig.axes[0].patches if p.get_edgecolor()[:3] == (1.0, 0.0, 0.0)]
    taps = widgets.conv_taps(5, 3, 1, 2)[1, 2].reshape(-1, 2)
    assert sorted((round(p.get_y() + 0.5), round(p.get_x() + 0.5)) for p in red) == sorted(map(tuple, taps.tolist()))
    counts = widgets.usage_counts(5, 3, 1, 2)
    assert [t.get_text() for t in fig.axes[2].texts] == [str(v) for v in counts.flat]
    assert "= 3" in fig._suptitle.get_text()
    strip = widgets.show_conv_frames(5, 3, frames=4)
    assert [ax.get_title() for ax in strip.axes[:4]] == ["output (0, 0)", "output (0, 1)", "output (0, 2)",
                                                         "output (2, 2)"]
    anim = widgets.conv_animation(4, 3)
    html = anim.to_jshtml()
    assert "<img" in html and html.count("frames[") >= 4


def test_explorer_builds_and_redraws():
    pytest.importorskip("ipywidgets")
    panel = widgets.conv_explorer(6, 3)
    sliders = {s.description: s for s in panel.children[0].children}
    sliders["stride"].value = 2
    assert sliders["output row"].max == 1                          # floor((6 - 3) / 2) + 1 = 2 rows
    sliders["kernel"].value = 7                                    # does not fit: no error raised
