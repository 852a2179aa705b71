"""The course's looks at the data: class balance, dev/test mismatch, sample and look, pixel
range, and the selection of mistakes and first-layer weights (hand-computed cases)."""

import jax
import numpy as np
import pytest

from jaxdl import data, nn

KEY = jax.random.key(0)


def labelled(labels, shape=(2, 2, 1), scale=1.0):
    labels = np.asarray(labels)
    x = np.linspace(0, scale, len(labels) * int(np.prod(shape))).reshape(len(labels), *shape)
    return data.from_arrays(x.astype(np.float32), labels, classes=("a", "b", "c"))


# ------------------------------------------------------------------------ class balance


def test_class_balance_counts_fractions_and_flags_by_hand():
    splits = data.Splits(labelled([0] * 6 + [1] * 5 + [2] * 1),   # 2: 1/12 < 0.5/3
                         labelled([0, 1, 1, 0]),                   # 2 missing
                         labelled([0, 1, 2]))
    check = data.class_balance(splits)
    np.testing.assert_array_equal(check.counts["train"], [6, 5, 1])
    np.testing.assert_allclose(check.fractions["train"], [0.5, 5 / 12, 1 / 12])
    np.testing.assert_array_equal(check.counts["dev"], [2, 2, 0])
    assert check.missing == {"train": (), "dev": (2,), "test": ()}
    assert check.rare == {"train": (2,), "dev": (), "test": ()}
    assert not check.ok and "dev: no example of class (2,)" in check.message
    assert "train: rare class (2,)" in check.message
    # with a lower bar (1/12 >= 0.2/3) train is fine; dev still misses class 2
    assert data.class_balance(splits, min_share=0.2).rare["train"] == ()


def test_class_balance_of_balanced_splits_and_of_pairs_and_one_hot():
    balanced = data.class_balance(data.Splits(labelled([0, 1, 2] * 4), labelled([2, 1, 0])))
    assert balanced.ok and set(balanced.counts) == {"train", "dev"}
    one_hot = np.eye(3)[[0, 0, 1, 1]]                          # class 2 never occurs
    check = data.class_balance((np.zeros((4, 2)), one_hot), num_classes=3)
    np.testing.assert_array_equal(check.counts["train"], [2, 2, 0])
    assert check.missing["train"] == (2,)
    with pytest.raises(ValueError, match="class indices"):
        data.class_balance((np.zeros((3, 2)), np.array([0.5, 1.0, 2.0])))


# --------------------------------------------------------------------- dev/test mismatch


def test_standardized_differences_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(1.0, 2.0, size=(40, 3))
    expected = (a.mean(0) - b.mean(0)) / np.sqrt((a.var(0) + b.var(0)) / 2)
    np.testing.assert_allclose(data.standardized_differences(a, b), expected, rtol=1e-12)
    const = data.standardized_differences(np.ones((4, 2)), np.c_[np.ones(4), np.zeros(4)])
    np.testing.assert_array_equal(const, [0.0, np.inf])


@pytest.mark.parity
def test_auc_matches_the_pairwise_definition_with_ties():
    rng = np.random.default_rng(1)
    scores = np.round(rng.normal(size=60), 1)                    # many ties
    labels = rng.integers(0, 2, 60)
    pos, neg = scores[labels == 1][:, None], scores[labels == 0][None, :]
    pairwise = np.mean((pos > neg) + 0.5 * (pos == neg))       # P(s+ > s-) + P(tie) / 2
    assert data.auc(scores, labels) == pytest.approx(pairwise, abs=1e-12)
    assert data.auc([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1]) == 1.0
    assert data.auc([0.4, 0.3, 0.2, 0.1], [0, 0, 1, 1]) == 0.0


def test_mismatch_same_distribution_is_near_chance_and_shifted_is_found():
    rng = np.random.default_rng(2)
    dev, test = rng.normal(size=(300, 10)), rng.normal(size=(300, 10))
    same = data.distribution_mismatch(dev, test, key=KEY)
    assert not same.mismatch and abs(same.auc - 0.5) < 0.1, same.message
    shifted = test.copy()
    shifted[:, 7] += 1.5                                        # one feature moved
    found = data.distribution_mismatch(dev, shifted, key=KEY)
    assert found.mismatch and found.auc > 0.8 and found.worst_feature == 7, found.message
    assert found.differences[7] == pytest.approx(
        (dev[:, 7].mean() - shifted[:, 7].mean())
        / np.sqrt((dev[:, 7].var() + shifted[:, 7].var()) / 2))
    assert "dev and test differ" in found.message
    again = data.distribution_mismatch(dev, shifted, key=KEY)
    assert again.auc == found.auc                                # keyed, reproducible


def test_mismatch_takes_datasets_and_checks_its_arguments():
    a, b = labelled([0, 1, 2] * 4), labelled([0, 1, 2] * 4, scale=3.0)
    assert data.distribution_mismatch(a, b, key=KEY).auc > 0.9
    with pytest.raises(ValueError, match="at least 4 examples"):
        data.distribution_mismatch(np.zeros((3, 2)), np.zeros((8, 2)), key=KEY)
    with pytest.raises(ValueError, match="features per example"):
        data.distribution_mismatch(np.zeros((8, 2)), np.zeros((8, 3)), key=KEY)
    with pytest.raises(TypeError, match="key"):
        data.distribution_mismatch(np.zeros((8, 2)), np.zeros((8, 2)), key=0)


# ---------------------------------------------------------------------- sample and look


def test_sample_draws_distinct_rows_with_their_labels():
    ds = labelled(np.arange(20) % 3, shape=(2,))
    drawn = data.sample(ds, 5, key=KEY)
    assert len(set(drawn.indices.tolist())) == 5 and np.all(np.diff(drawn.indices) > 0)
    np.testing.assert_array_equal(drawn.x, ds.x[drawn.indices])
    np.testing.assert_array_equal(drawn.y, ds.y[drawn.indices])
    np.testing.assert_array_equal(data.sample(ds, 5, key=KEY).indices, drawn.indices)
    others = [data.sample(ds, 5, key=jax.random.key(s)).indices for s in (1, 2, 3)]
    assert any(not np.array_equal(o, drawn.indices) for o in others)
    np.testing.assert_array_equal(data.sample((ds.x, ds.y), 20, key=KEY).indices, np.arange(20))
    with pytest.raises(ValueError, match="larger than the dataset"):
        data.sample(ds, 21, key=KEY)


# ------------------------------------------------------------------------- pixel range


def test_pixel_range_finds_a_split_left_in_bytes():
    unit = labelled([0, 1, 2, 0])
    byte = labelled([0, 1, 2, 0], scale=255.0)
    check = data.pixel_range(data.Splits(byte, unit, unit))
    assert not check.ok
    assert check.scales == {"train": "[0, 255]", "dev": "[0, 1]", "test": "[0, 1]"}
    assert check.ranges["train"] == (0.0, 255.0) and "x / 255" in check.message
    assert data.pixel_range(data.Splits(unit, unit)).ok
    assert data.pixel_range(data.Splits(byte, byte)).ok
    signed = data.pixel_range((np.array([-1.0, 0.5]), np.array([0, 1]))).scales["train"]
    assert signed == "[-1, 1]"
    standardized = data.pixel_range((np.array([-3.0, 402.0]), np.array([0, 1])))
    assert not standardized.ok and standardized.scales["train"] == "other"
    assert "no pixel range" in standardized.message


# ---------------------------------------------------- mistakes and first-layer weights


LOGITS = np.log(np.array([[0.7, 0.2, 0.1],     # predicted 0, true 0: right
                          [0.1, 0.6, 0.3],     # predicted 1, true 2: wrong (0.6)
                          [0.9, 0.05, 0.05],   # predicted 0, true 1: wrong (0.9)
                          [0.2, 0.2, 0.6],     # predicted 2, true 2: right
                          [0.3, 0.3, 0.4]]))   # predicted 2, true 0: wrong (0.4)
TRUE = np.array([0, 2, 1, 2, 0])


def test_misclassified_in_dataset_order_with_confidence():
    found = data.misclassified(LOGITS, TRUE)
    np.testing.assert_array_equal(found.indices, [1, 2, 4])
    np.testing.assert_array_equal(found.predicted, [1, 0, 2])
    np.testing.assert_array_equal(found.true, [2, 1, 0])
    np.testing.assert_allclose(found.confidence, [0.6, 0.9, 0.4], rtol=1e-5)
    one_hot = data.misclassified(LOGITS, np.eye(3)[TRUE])
    np.testing.assert_array_equal(one_hot.indices, [1, 2, 4])


def test_most_confident_mistakes_sorted_by_confidence():
    top = data.most_confident_mistakes(LOGITS, TRUE, k=2)
    np.testing.assert_array_equal(top.indices, [2, 1])
    np.testing.assert_allclose(top.confidence, [0.9, 0.6], rtol=1e-5)
    assert len(data.most_confident_mistakes(LOGITS, TRUE, k=10).indices) == 3


def test_mistakes_of_a_single_logit_model():
    logits = np.array([[2.0], [-1.0], [0.5], [-3.0]])     # p = sigmoid: .88 .27 .62 .05
    found = data.misclassified(logits, np.array([0, 0, 1, 1]))   # predicted 1 0 1 0
    np.testing.assert_array_equal(found.indices, [0, 3])
    np.testing.assert_array_equal(found.predicted, [1, 0])
    np.testing.assert_allclose(found.confidence, [1 / (1 + np.exp(-2.0)), 1 / (1 + np.exp(-3.0))],
                               rtol=1e-6)


def test_first_layer_images_are_the_columns_of_the_first_dense_weights():
    model = nn.serial(nn.flatten, nn.dense(5), nn.relu, nn.dense(3))
    params, _, _ = model.init(KEY, (2, 3, 1))
    images = data.first_layer_images(params, (2, 3, 1))
    w = np.asarray(params[1]["w"])                         # (6, 5)
    assert images.shape == (5, 2, 3, 1)
    np.testing.assert_array_equal(images[4, 1, 2, 0], w[5, 4])
    np.testing.assert_array_equal(images[2].ravel(), w[:, 2])
    np.testing.assert_array_equal(data.first_layer_images(w, (6,)), w.T)
    with pytest.raises(ValueError, match="has shape"):
        data.first_layer_images(params, (7,))
