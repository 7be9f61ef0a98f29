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
    img = fig.axes[0].images[0].get_array()                        # padded input, (5 + 2, 5 + 2, 3)
    red = {(r - 1, c - 1) for r, c in zip(*np.nonzero(img[..., 0] > img[..., 1] + 0.3))}
    taps = widgets.conv_taps(5, 3, 1, 2)[1, 2].reshape(-1, 2)
    assert red == set(map(tuple, taps.tolist())) and len(red) == 9     # (row, col) of the input, -1 = padding
    counts = widgets.usage_counts(5, 3, 1, 2)
    assert [t.get_text() for t in fig.axes[2].texts] == [str(v) for v in counts.flat]
    assert "= 3" in fig._suptitle.get_text()
    strip = widgets.show_conv_frames(5, 3, frames=4)
    assert [ax.get_title() for ax in strip.axes[:4]] == ["output (0, 0)", "output (0, 1)", "output (0, 2)",
                                                         "output (2, 2) (last)"]
    anim = widgets.conv_animation(4, 3)
    html = anim.to_jshtml()
    assert "<img" in html and html.count("frames[") >= 4


def _sliders(panel):
    """The panel's sliders by description, found by walking its boxes (as a browser lays them out)."""
    import ipywidgets as W
    found, todo = {}, [panel]
    while todo:
        w = todo.pop()
        if isinstance(w, W.IntSlider):
            found[w.description] = w
        todo.extend(getattr(w, "children", ()))
    assert set(found) == {"input size", "kernel", "padding", "stride", "dilation", "output row", "output col"}
    return found


def test_explorer_builds_and_redraws():
    pytest.importorskip("ipywidgets")
    panel = widgets.conv_explorer(6, 3)
    sliders = _sliders(panel)
    sliders["stride"].value = 2
    assert sliders["output row"].max == 1                          # floor((6 - 3) / 2) + 1 = 2 rows
    sliders["kernel"].value = 7                                    # does not fit: no error raised


def test_explorer_draws_once_per_change(monkeypatch):
    pytest.importorskip("ipywidgets")
    calls = []
    real = widgets.show_conv_step
    monkeypatch.setattr(widgets, "show_conv_step", lambda *a, **k: calls.append(a) or real(*a, **k))
    panel = widgets.conv_explorer(8, 3)
    sliders = _sliders(panel)
    sliders["output row"].value = 5
    calls.clear()
    sliders["stride"].value = 3                                    # shrinks the output: row clamped, drawn once
    assert len(calls) == 1 and calls[0][5] == (1, 0)


def test_explorer_summary_text():
    text = widgets.explorer_summary(7, 3, padding=1, stride=2, dilation=2, position=(1, 2))
    assert "input 7x7, kernel 3x3, padding 1, stride 2, dilation 2" in text
    assert widgets.output_size_text(7, 3, 1, 2, 2) in text
    taps = widgets.conv_taps(7, 3, 1, 2, 2)[1, 2]                      # rows 1, 3, 5; cols 3, 5, 7 (7: padding)
    assert f"rows {taps[0, 0, 0]}..{taps[-1, 0, 0]}, cols {taps[0, 0, 1]}..{taps[0, -1, 1]} step 2" in text
    counts = widgets.usage_counts(7, 3, 1, 2, 2)
    assert f"fewest {counts.min()}, most {counts.max()}" in text and "padding)" in text
    bad = widgets.explorer_summary(3, 7)                                # does not fit: the reason, no exception
    assert "in_size too small" in bad and "floor" not in bad


def test_explorer_readouts_visible_and_updated():
    """The browser bug: the figure sat beside the sliders and covered their values. Now every
    slider shows its value, the controls sit above the figure (a VBox, figure last), and the
    text readout follows the sliders with the learner's numbers."""
    W = pytest.importorskip("ipywidgets")
    panel = widgets.conv_explorer(5, 3)
    assert isinstance(panel, W.VBox) and isinstance(panel.children[-1], W.Output)
    sliders = _sliders(panel)
    for s in sliders.values():
        assert s.readout and s.readout_format == "d"
        assert s.style.description_width and s.layout.width                 # label and value get room
    assert panel.sliders["stride"] is sliders["stride"]
    assert "floor(2 / 1) + 1 = 3" in panel.readout.value
    sliders["stride"].value = 2
    assert "stride 2" in panel.readout.value and "floor(2 / 2) + 1 = 2" in panel.readout.value
    sliders["padding"].value = 1
    sliders["output col"].value = 2
    assert widgets.output_size_text(5, 3, 1, 2) in panel.readout.value
    assert "output (0, 2) of 3x3 reads input rows -1..1, cols 3..5" in panel.readout.value
    sliders["padding"].value = 0
    sliders["kernel"].value = 7                                        # span 7 > 5: the readout says why
    assert "in_size too small" in panel.readout.value and "floor" not in panel.readout.value
