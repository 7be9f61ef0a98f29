"""cnnlib.viz: every plot draws what it is given and rejects wrong shapes."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cnnlib import viz  # noqa: E402
from cnnlib.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


@pytest.mark.parametrize("shape", [(5, 8, 8), (5, 1, 8, 8), (5, 3, 8, 8), (5, 8, 8, 3)])
def test_show_images_layouts(shape):
    fig = viz.show_images(torch.rand(shape), titles=list("abcde"), ncols=3, suptitle="t")
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5 and len(fig.axes) == 6
    assert shown[0].get_title() == "a"


@pytest.mark.parametrize("size", [1.0, 1.6, 2.5])
def test_show_images_titles_never_cover_the_row_above(size):
    # notebook 00's grid: 16 digits in 2 rows of 8, one label each
    fig = viz.show_images(torch.rand(16, 1, 28, 28), titles=[str(i % 10) for i in range(16)], ncols=8,
                          size=size, suptitle="MNIST")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    shown = [ax for ax in fig.axes if ax.images]
    top, bottom = shown[:8], shown[8:]
    for above, below in zip(top, bottom):
        title = below.title.get_window_extent(renderer)
        image = above.get_window_extent(renderer)  # the drawn (square) image box
        assert title.y1 <= image.y0 + 0.5, (title, image)  # display coordinates: y grows upwards
    suptitle = fig._suptitle.get_window_extent(renderer)
    assert all(ax.title.get_window_extent(renderer).y1 <= suptitle.y0 + 0.5 for ax in top)
    plt.close(fig)


def test_show_images_errors():
    with pytest.raises(ValueError, match="images"):
        viz.show_images(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="titles"):
        viz.show_images(np.zeros((2, 4, 4)), titles=["a"])


def test_show_kernels_and_feature_maps():
    w = torch.randn(4, 3, 5, 5)
    fig = viz.show_kernels(w, title="k")
    assert sum(1 for ax in fig.axes if ax.images) == 12
    img = [ax for ax in fig.axes if ax.images][0].images[0]
    assert img.get_clim()[0] == -img.get_clim()[1]  # symmetric colour scale
    fig = viz.show_kernels(np.eye(3), ncols=2)
    assert sum(1 for ax in fig.axes if ax.images) == 1
    fig = viz.show_feature_maps(torch.rand(1, 6, 7, 7), ncols=3, title="maps")
    assert sum(1 for ax in fig.axes if ax.images) == 6
    with pytest.raises(ValueError, match="weight"):
        viz.show_kernels(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="maps"):
        viz.show_feature_maps(np.zeros((2, 2)))


def test_plot_history():
    h1 = History(train_loss=[1.0, 0.5], train_metric=[0.5, 0.8], val_loss=[1.1, 0.6], val_metric=[0.4, 0.7])
    h2 = History(train_loss=[2.0, 1.0], train_metric=[float("nan")] * 2)
    fig = viz.plot_history(h1, h2, labels=["a", "b"])
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 3
    fig = viz.plot_history(h2)
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="at least one"):
        viz.plot_history()
    with pytest.raises(ValueError, match="labels"):
        viz.plot_history(h1, labels=["a", "b"])


def test_confusion_matrix_and_frequency_response():
    m = torch.tensor([[5, 1], [0, 7]])
    fig = viz.plot_confusion_matrix(m, ["x", "y"])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["1", "5", "7"]
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.zeros((2, 3)))
    blur = np.full((3, 3), 1 / 9)
    fig = viz.plot_frequency_response({"blur": blur, "edge": np.array([[-1, 0, 1]] * 3)})
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="2-D"):
        viz.plot_frequency_response({"bad": np.zeros(3)})


def test_show_map_rows_scales_and_colorbars():
    maps = {"image": torch.rand(4, 6, 6), "signed": torch.randn(4, 1, 6, 6), "positive": torch.rand(4, 6, 6) * 3}
    fig = viz.show_map_rows(maps, signed=["signed"], titles=list("abcd"), suptitle="s")
    rows = [[ax.images[0] for ax in fig.axes[r * 4:(r + 1) * 4]] for r in range(3)]
    assert {im.get_clim() for im in rows[1]} == {rows[1][0].get_clim()}       # one scale per row
    lo, hi = rows[1][0].get_clim()
    assert lo == -hi and hi == pytest.approx(float(maps["signed"].abs().max()))   # centred at 0
    assert rows[1][0].get_cmap().name == "bwr" and rows[0][0].get_cmap().name == "gray"
    assert rows[2][0].get_clim() == pytest.approx((0.0, float(maps["positive"].max())))
    assert len(fig.axes) == 12 + 3                                           # one colorbar per row


def test_show_map_rows_errors():
    with pytest.raises(ValueError, match="rows"):
        viz.show_map_rows({})
    with pytest.raises(ValueError, match="same number"):
        viz.show_map_rows({"a": torch.rand(3, 4, 4), "b": torch.rand(2, 4, 4)})
    with pytest.raises(ValueError, match="signed"):
        viz.show_map_rows({"a": torch.rand(3, 4, 4)}, signed=["b"])
    with pytest.raises(ValueError, match=r"rows\['a'\]"):
        viz.show_map_rows({"a": torch.rand(3, 4)})
    with pytest.raises(ValueError, match="titles"):
        viz.show_map_rows({"a": torch.rand(3, 4, 4)}, titles=["x"])


@pytest.mark.parametrize("call, match", [
    (lambda: viz.show_images(np.zeros((0, 8, 8))), "images must hold at least one entry"),
    (lambda: viz.show_feature_maps(np.zeros((0, 8, 8))), "maps must hold at least one entry"),
    (lambda: viz.show_kernels(np.zeros((0, 1, 3, 3))), "weight must hold at least one kernel"),
    (lambda: viz.show_images(np.zeros((2, 8, 8)), ncols=0), "ncols must be a positive integer"),
])
def test_empty_grids_are_refused_with_the_argument_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------ issue 15: figures that do not mislead

def _colorbars(fig):
    return [c for ax in fig.axes for c in ax.child_axes if c.get_label() == "colorbar"]


def test_show_kernels_one_shared_signed_scale_with_colorbar_and_values():
    from cnnlib import kernels

    bank = kernels.kernel_bank()
    fig = viz.show_kernels(np.stack(list(bank.values()))[:, None], ncols=7, titles=list(bank))
    images = [ax.images[0] for ax in fig.axes if ax.images]
    m = max(float(np.abs(k).max()) for k in bank.values())
    assert {im.get_clim() for im in images} == {(-m, m)}                     # one range, centred at 0
    assert all(im.get_cmap().name == "bwr" for im in images)
    assert len(_colorbars(fig)) == 1 and len(fig.axes) == 7                  # colorbar not counted in fig.axes
    blur_ax = fig.axes[list(bank).index("box blur 1/9")]
    assert blur_ax.get_title() == "box blur 1/9"
    assert [t.get_text() for t in blur_ax.texts] == ["0.11"] * 9              # values written in the cells
    sobel = [t.get_text() for t in fig.axes[list(bank).index("Sobel x")].texts]
    assert sobel == ["-1", "0", "1", "-2", "0", "2", "-1", "0", "1"]


def test_show_kernels_per_kernel_scale_and_no_values_on_request():
    w = torch.stack([torch.eye(3), torch.full((3, 3), 1 / 9)])[:, None]
    fig = viz.show_kernels(w, shared=False, annotate=False)
    lims = [ax.images[0].get_clim() for ax in fig.axes if ax.images]
    assert lims[0] == (-1.0, 1.0) and lims[1] == pytest.approx((-1 / 9, 1 / 9))
    assert not _colorbars(fig) and not any(ax.texts for ax in fig.axes)
    big = viz.show_kernels(torch.randn(2, 1, 7, 7))                              # 7x7: no values written
    assert not any(ax.texts for ax in big.axes)


def test_show_kernels_rgb_filters_as_colour_images():
    w = torch.zeros(2, 3, 3, 3)
    w[0, 0] = 1.0                       # filter 0: pure red
    w[1, 2] = -1.0                      # filter 1: negative blue -> yellow-ish (red+green at 0.5, blue 0)
    fig = viz.show_kernels(w, rgb=True)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 2 and images[0].shape == (3, 3, 3)
    assert np.allclose(images[0][0, 0], [1.0, 0.5, 0.5]) and np.allclose(images[1][0, 0], [0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="rgb=True needs weight with C_in = 3"):
        viz.show_kernels(torch.zeros(2, 1, 3, 3), rgb=True)
    with pytest.raises(ValueError, match="titles"):
        viz.show_kernels(torch.zeros(2, 1, 3, 3), titles=["a"])


def test_show_kernels_keeps_the_figure_sizes_other_notebooks_store():
    # the panels keep size x size inches: the colorbar and the figure title get room of their own
    assert repr(viz.show_kernels(torch.randn(8, 1, 5, 5), ncols=4, size=2.2, title="t")) == \
        f"<Figure size {int(100 * (4 * 2.2 + 0.95))}x{int(100 * (2 * 2.2 + 0.4))} with 8 Axes>"
    assert repr(viz.show_kernels(torch.randn(6, 1, 5, 5), ncols=6, size=1.3, colorbar=False)) == \
        "<Figure size 780x130 with 6 Axes>"
    assert repr(viz.show_feature_maps(torch.randn(6, 24, 24), ncols=6, title="t")) == \
        "<Figure size 840x180 with 6 Axes>"


def test_show_feature_maps_signed_maps_diverging_and_shared():
    maps = torch.randn(4, 8, 8)
    maps[2] *= 5
    fig = viz.show_feature_maps(maps, ncols=4)
    images = [ax.images[0] for ax in fig.axes if ax.images]
    m = float(maps.abs().max())
    assert {im.get_clim() for im in images} == {(-m, m)} and images[0].get_cmap().name == "bwr"
    assert len(_colorbars(fig)) == 1
    relu = viz.show_feature_maps(maps.relu(), ncols=4)                        # non-negative: viridis on [0, max]
    im = relu.axes[0].images[0]
    assert im.get_cmap().name == "viridis" and im.get_clim() == (0.0, float(maps.relu().max()))
    same = viz.show_feature_maps(maps.relu(), vlim=(-m, m), titles=list("abcd"))   # on the pre-ReLU scale
    assert same.axes[0].images[0].get_clim() == (-m, m) and same.axes[0].images[0].get_cmap().name == "bwr"
    assert same.axes[1].get_title() == "b"
    own = viz.show_feature_maps(maps, shared=False)
    assert own.axes[2].images[0].get_clim() == (-float(maps[2].abs().max()), float(maps[2].abs().max()))
    assert not _colorbars(own)
    with pytest.raises(ValueError, match="vlim"):
        viz.show_feature_maps(maps, vlim=(1, 0))
    with pytest.raises(TypeError, match="vlim"):
        viz.show_feature_maps(maps, vlim="ab")


def test_frequency_response_on_one_scale_with_colorbar():
    from cnnlib import kernels

    eq = {"blur": kernels.box_blur(), "sharpen": kernels.sharpen(), "Laplacian": kernels.laplacian()}
    fig = viz.plot_frequency_response(eq)
    gains = [ax.images[0] for ax in fig.axes[3:]]
    top = max(float(np.abs(np.fft.fft2(k, s=(64, 64))).max()) for k in eq.values())
    assert {im.get_clim() for im in gains} == {(0.0, top)}
    assert len(_colorbars(fig)) == 1
    assert [ax.get_title() for ax in fig.axes[:3]] == list(eq)
    db = viz.plot_frequency_response(eq, db=True)
    assert db.axes[3].images[0].get_clim()[0] == -40.0


def test_plot_history_draws_every_batch_and_whole_epoch_ticks():
    import matplotlib.pyplot as plt
    from cnnlib.train import History
    from cnnlib.viz import plot_history

    h = History(train_loss=[1.0, 0.5, 0.4], train_metric=[0.5, 0.8, 0.9], val_loss=[0.6, 0.5, 0.45],
                val_metric=[0.7, 0.85, 0.9], batch_loss=[1.2, 0.9, 0.7, 0.5, 0.45, 0.4] * 1,
                batch_metric=[0.4, 0.6, 0.75, 0.85, 0.88, 0.9], batch_epoch=[0.5, 1, 1.5, 2, 2.5, 3])
    fig = plot_history(h, labels=["lenet"])
    loss_ax, acc_ax = fig.axes
    lines = {ln.get_label(): ln for ln in loss_ax.get_lines()}
    assert len(lines["lenet train (per batch, train mode)"].get_xdata()) == 6
    assert list(lines["lenet val (end of epoch, eval mode)"].get_xdata()) == [1, 2, 3]
    for ax in (loss_ax, acc_ax):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
    # one legend for both panels, below them (outside every axes), none inside a panel
    assert loss_ax.get_legend() is None and acc_ax.get_legend() is None
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(lines)
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert all(box.y1 <= ax.get_window_extent().y0 for ax in (loss_ax, acc_ax))
    plt.close(fig)
    old = History(train_loss=[1.0, 0.5], train_metric=[0.5, 0.8])  # no batch records: one dot per epoch
    fig = plot_history(old)
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["run 1 train"]
    plt.close(fig)
    with pytest.raises(TypeError, match=r"histories\[0\]"):
        plot_history({"train_loss": [1.0]})


def _text_sizes(fig):
    from matplotlib.text import Text

    return [t.get_fontsize() for t in fig.findobj(Text) if t.get_text()]


def test_every_helper_draws_text_of_at_least_10_points():
    rng = np.random.default_rng(0)
    h = History()
    h.train_loss, h.train_metric, h.val_loss, h.val_metric = [1.0, 0.5], [0.5, 0.8], [0.9, 0.6], [0.6, 0.7]
    figs = [viz.show_images(torch.rand(4, 1, 8, 8), titles=list("abcd")),
            viz.show_kernels(torch.randn(3, 1, 3, 3), size=2.4, titles=list("abc"), title="kernels"),
            viz.show_feature_maps(torch.randn(4, 6, 6)),
            viz.plot_history(h, labels=["run"]),
            viz.plot_confusion_matrix(rng.integers(0, 1000, (10, 10))),
            viz.show_map_rows({"image": rng.random((3, 8, 8)), "grad": rng.standard_normal((3, 8, 8))},
                              signed=["grad"], titles=list("xyz"), colorbar_labels={"grad": "gradient"})]
    for fig in figs:
        sizes = _text_sizes(fig)
        assert sizes and min(sizes) >= 10, (fig, min(sizes))
    cbars = [ax for ax in figs[-1].axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_ylabel() for ax in cbars] == ["", "gradient"]


def test_legible_raises_small_text_and_labels_colorbars_in_order():
    fig, (a, b) = plt.subplots(1, 2)
    im = a.imshow(np.eye(3))
    fig.colorbar(im, ax=a)
    fig.colorbar(b.imshow(-np.eye(3), cmap="bwr"), ax=b)
    a.set_title("small", fontsize=6)
    b.set_title("big", fontsize=14)
    a.tick_params(labelsize=5)
    a.legend(handles=a.plot([0, 1], label="line"), fontsize=7)
    assert min(_text_sizes(fig)) < 10
    assert viz.legible(fig, colorbar_labels=["first", "second"]) is fig
    assert min(_text_sizes(fig)) >= 10
    assert b.title.get_fontsize() == 14                      # larger text keeps its size
    cbars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert [ax.get_ylabel() for ax in cbars] == ["first", "second"]
    # a grid colorbar of show_kernels lives in a child axes: found too
    k = viz.show_kernels(torch.randn(2, 1, 3, 3))
    viz.legible(k, colorbar_labels=["weight"])
    child = [c for ax in k.axes for c in ax.child_axes if c.get_label() == "colorbar"]
    assert [c.get_ylabel() for c in child] == ["weight"]


@pytest.mark.parametrize("kwargs, err, match", [
    ({"min_size": 0}, ValueError, "min_size must be a positive"),
    ({"min_size": True}, ValueError, "min_size"),
    ({"colorbar_labels": "weight"}, TypeError, "colorbar_labels must be a sequence of str"),
    ({"colorbar_labels": ["a", "b"]}, ValueError, "2 labels, the figure 1 colorbars"),
])
def test_legible_bad_input(kwargs, err, match):
    fig, ax = plt.subplots()
    fig.colorbar(ax.imshow(np.eye(2)), ax=ax)
    with pytest.raises(err, match=match):
        viz.legible(fig, **kwargs)


def test_show_map_rows_colorbar_labels_bad_input():
    rows = {"image": np.zeros((2, 4, 4))}
    with pytest.raises(ValueError, match="colorbar_labels names rows that do not exist"):
        viz.show_map_rows(rows, colorbar_labels={"saliency": "x"})
    with pytest.raises(TypeError, match="colorbar_labels must be a dict"):
        viz.show_map_rows(rows, colorbar_labels={"image": 3})


def test_label_points_keeps_labels_apart_and_tied_to_their_points():
    fig, ax = plt.subplots()
    ax.set(xlim=(0, 10), ylim=(0, 10))
    pts = np.array([[5, 5], [5.1, 5.05], [5.05, 4.95], [1, 1], [1, 1]])   # a crowd, and an exact tie
    texts = viz.label_points(ax, pts, list("abcde"), colors=["C0", "C1", "C2", "C3", "C4"], min_gap=0.07)
    where = np.array([t.xyann for t in texts]) / 10.0
    gaps = [np.linalg.norm(where[i] - where[j]) for i in range(5) for j in range(i + 1, 5)]
    assert min(gaps) >= 0.07 * 0.98
    assert [t.xy for t in texts] == [tuple(map(float, p)) for p in pts]          # each label points at its point
    assert texts[3].arrow_patch is not None                                    # a moved label has a line to it
    lone = viz.label_points(ax, np.array([[9, 9]]), ["z"])
    assert lone[0].xyann == lone[0].xy and lone[0].arrow_patch is None           # nothing to avoid: stays put
    plt.close(fig)


@pytest.mark.parametrize("args, match", [
    ((np.zeros((3,)), ["a"] * 3), "points must have shape"),
    ((np.zeros((2, 2)), ["a"]), "labels must have one entry per point"),
])
def test_label_points_bad_input(args, match):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=match):
        viz.label_points(ax, *args)
    with pytest.raises(ValueError, match="min_gap"):
        viz.label_points(ax, np.zeros((1, 2)), ["a"], min_gap=0.9)
    plt.close(fig)
