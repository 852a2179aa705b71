"""Plots: each renders to a PNG file and draws the data it was given."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from jaxdl import plots  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"
HISTORY = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3], "dev_loss": [1.1, 0.7, 0.6],
           "train_accuracy": [0.5, 0.8, 0.9], "dev_accuracy": [0.4, 0.7, 0.8],
           "grad_norm": [{"0:dense/w": 1.0, "2:dense/w": 0.1},
                         {"0:dense/w": 0.5, "2:dense/w": 0.2},
                         {"0:dense/w": 0.25, "2:dense/w": 0.4}],
           "update_ratio": [{"0:dense/w": 1e-3}, {"0:dense/w": 2e-3}, {"0:dense/w": 5e-4}]}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plots._pyplot().close("all")


def is_png(path) -> bool:
    return path.read_bytes()[:8] == PNG


def test_training_curves_draw_loss_and_accuracy(tmp_path):
    fig = plots.training_curves(HISTORY, tmp_path / "curves.png")
    loss_ax, acc_ax = fig.axes
    np.testing.assert_array_equal(loss_ax.lines[0].get_ydata(), HISTORY["train_loss"])
    np.testing.assert_array_equal(acc_ax.lines[1].get_ydata(), HISTORY["dev_accuracy"])
    assert is_png(tmp_path / "curves.png")


def test_layer_curves_draw_one_line_per_layer(tmp_path):
    fig = plots.layer_curves(HISTORY, "grad_norm", tmp_path / "norms.png")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["0:dense/w", "2:dense/w"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0.1, 0.2, 0.4])
    assert ax.get_yscale() == "log" and is_png(tmp_path / "norms.png")
    ratios = plots.layer_curves(HISTORY, "update_ratio", tmp_path / "ratios.png",
                                reference=1e-3).axes[0]
    assert ratios.lines[-1].get_ydata()[0] == 1e-3  # the healthy-ratio reference line
    assert is_png(tmp_path / "ratios.png")


def test_activation_histograms_from_raw_values_and_from_binned_counts(tmp_path):
    values = np.random.default_rng(0).normal(size=500)
    counts, edges = np.histogram(values, bins=10)
    fig = plots.activation_histograms({"epoch 0": {"1:tanh": values, "3:tanh": values},
                                       "epoch 5": {"1:tanh": (counts, edges)}},
                                      tmp_path / "acts.png", bins=10)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and visible[0].get_ylabel() == "epoch 0"
    heights = [patch.get_height() for patch in visible[0].patches]
    np.testing.assert_array_equal(heights, counts)  # ax.hist binned the raw values
    np.testing.assert_array_equal(visible[2].patches[0].get_data().values, counts)  # stairs
    assert is_png(tmp_path / "acts.png")
    one_row = plots.activation_histograms({"1:relu": values}, tmp_path / "row.png")
    assert len(one_row.axes) == 1 and is_png(tmp_path / "row.png")


def test_weight_histograms_have_a_weight_row_and_a_gradient_row(tmp_path):
    rng = np.random.default_rng(1)
    weights = {"0:dense/w": rng.normal(size=(4, 8)), "2:dense/w": rng.normal(size=(8, 3))}
    grads = {name: 1e-3 * w for name, w in weights.items()}
    fig = plots.weight_histograms(weights, grads, tmp_path / "weights.png")
    assert [ax.get_ylabel() for ax in fig.axes[::2]] == ["weights", "gradients"]
    assert sum(p.get_height() for p in fig.axes[1].patches) == 8 * 3
    assert is_png(tmp_path / "weights.png")


def test_decision_boundary_maps_the_predicted_class_over_the_plane(tmp_path):
    x = np.array([[-1.0, -2.0], [1.0, 2.0], [0.5, -1.0]])
    y = np.array([0, 1, 1])

    def predict(points):  # class 1 right of x1 = 0 (logits, two classes)
        return np.stack([-points[:, 0], points[:, 0]], axis=1)

    fig = plots.decision_boundary(predict, x, y, tmp_path / "boundary.png", resolution=50)
    image = fig.axes[0].images[0]
    classes = np.asarray(image.get_array())
    assert classes.shape == (50, 50)
    np.testing.assert_array_equal(classes[:, 0], 0)  # left column
    np.testing.assert_array_equal(classes[:, -1], 1)  # right column: not transposed
    assert image.get_extent() == pytest.approx([-1.5, 1.5, -2.5, 2.5])
    assert is_png(tmp_path / "boundary.png")
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        plots.decision_boundary(predict, np.zeros((3, 3)), y)


def test_diagnostics_plots_write_every_monitor_plot(tmp_path):
    hist = (np.array([1, 2, 1]), np.array([0.0, 1.0, 2.0, 3.0]))
    histograms = {e: {"weights": {"0:dense/w": hist}, "grads": {"0:dense/w": hist},
                      "activations": {"1:relu": hist}} for e in (0, 3)}
    history = dict(HISTORY, activation_std=[{"1:relu": 0.8}] * 3)
    paths = plots.diagnostics_plots(history, histograms, tmp_path)
    assert [p.name for p in paths] == ["gradient_norms.png", "update_ratios.png",
                                       "activation_std.png", "activation_histograms.png",
                                       "weight_histograms.png"]
    assert all(is_png(p) for p in paths)


# ------------------------------------------------------------------- looking at images


def test_sample_grid_shows_each_example_with_its_label(tmp_path):
    x = np.arange(3 * 4 * 4, dtype=np.float32).reshape(3, 4, 4, 1)
    fig = plots.sample_grid((x, np.array([2, 0, 1])), tmp_path / "sample.png",
                            classes=("zero", "one", "two"), columns=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["two", "zero", "one"]
    np.testing.assert_array_equal(shown[1].images[0].get_array(), x[1, ..., 0])
    assert len(fig.axes) == 4 and is_png(tmp_path / "sample.png")   # 2 x 2, one left blank


def test_first_layer_weights_draws_the_columns_as_signed_images(tmp_path):
    w = np.random.default_rng(0).normal(size=(6, 5))
    fig = plots.first_layer_weights([{"b": np.zeros(5), "w": w}], (2, 3), tmp_path / "w.png",
                                    units=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["unit 0", "unit 1", "unit 2", "unit 3"]
    image = shown[3].images[0]
    np.testing.assert_array_equal(image.get_array(), w[:, 3].reshape(2, 3))
    assert image.get_clim() == (-np.abs(w[:, 3]).max(), np.abs(w[:, 3]).max())
    assert is_png(tmp_path / "w.png")


LOGITS = np.log(np.array([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.9, 0.05, 0.05],
                          [0.2, 0.2, 0.6], [0.3, 0.3, 0.4]]))
TRUE = np.array([0, 2, 1, 2, 0])      # wrong: 1 (0.6), 2 (0.9), 4 (0.4)
IMAGES = np.arange(5 * 9, dtype=np.float32).reshape(5, 3, 3)


def test_misclassified_shows_the_mistakes_in_dataset_order(tmp_path):
    fig = plots.misclassified(IMAGES, LOGITS, TRUE, tmp_path / "wrong.png", limit=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["1 (0.60)\ntrue 2", "0 (0.90)\ntrue 1"]
    np.testing.assert_array_equal(shown[1].images[0].get_array(), IMAGES[2])
    assert fig._suptitle.get_text() == "3 misclassified of 5" and is_png(tmp_path / "wrong.png")


def test_confident_mistakes_most_confident_first(tmp_path):
    fig = plots.confident_mistakes(IMAGES, LOGITS, TRUE, tmp_path / "sure.png", k=3,
                                   classes=("a", "b", "c"))
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["a (0.90)\ntrue b", "b (0.60)\ntrue c",
                                                "c (0.40)\ntrue a"]
    np.testing.assert_array_equal(shown[0].images[0].get_array(), IMAGES[2])
    np.testing.assert_array_equal(shown[2].images[0].get_array(), IMAGES[4])
    assert is_png(tmp_path / "sure.png")
    none = plots.misclassified(IMAGES, LOGITS, np.array([0, 1, 0, 2, 2]))
    assert not any(ax.images for ax in none.axes)               # nothing to show


def test_image_grid_rejects_non_images():
    with pytest.raises(ValueError, match="images must have shape"):
        plots.image_grid(np.zeros((2, 4)))


def whole(ticks) -> bool:
    return bool(np.all(np.asarray(ticks) == np.round(ticks)))


def test_epoch_and_member_axes_have_whole_number_ticks_and_the_legend_covers_no_bar(tmp_path):
    curves = plots.training_curves(HISTORY, tmp_path / "curves.png")
    curves.canvas.draw()
    assert all(whole(ax.get_xticks()) for ax in curves.axes)  # was 1.0, 1.25, 1.5 ...
    layers = plots.layer_curves(HISTORY, "grad_norm")
    layers.canvas.draw()
    assert whole(layers.axes[0].get_xticks())
    acc = {"members": [0.9, 0.92, 0.88, 0.91], "mean_member": 0.9025, "selected_member": 0.92,
           "hard": 0.93, "mean_prob": 0.94, "confidence": 0.93}
    fig = plots.ensemble_accuracy({"dev": acc, "test": acc}, tmp_path / "ensemble.png")
    fig.canvas.draw()
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert whole(ticks) and min(ticks) >= 0  # no -0.5 member
        legend, plot_area = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y1 <= plot_area.y0  # below the axes: no label over a bar
    assert is_png(tmp_path / "ensemble.png")
