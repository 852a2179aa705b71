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
