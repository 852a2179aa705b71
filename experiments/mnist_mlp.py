"""MNIST with the course's MLP: 784-256-100-10 ReLU, Adam 1e-3, L2 5e-5, batch 100.

The course reports 98.16% test accuracy after 10,000 steps. Here: the official 60,000
training images split 55,000 train / 5,000 dev (stratified, keyed), the official 10,000
test images, 18 epochs of 550 steps = 9,900 steps, repeated for --seeds seeds (the seed
sets the dev split, the initialization and the batch order). Two variants: the course's own setup
(pixels in [0, 1], Glorot-uniform weights: TensorFlow's defaults) and a "standardized"
one (per-pixel standardization with training statistics, He-normal weights).
Writes results/mnist_mlp.{json,md,png}.

    python experiments/mnist_mlp.py [--epochs 18] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from jaxdl import data, initializers, losses, nn, optim, plots, regularizers, train
from jaxdl.ensemble import markdown_table

from common import mnist_dir, write_results

VARIANTS = {  # name: (preprocessing, weight initializer)
    "course: [0,1] pixels, Glorot uniform": (None, initializers.xavier_uniform()),
    "standardized pixels, He normal": ("standardize", initializers.he_normal()),
}


def mlp(w_init):
    return nn.serial(nn.flatten, nn.dense(256, w_init=w_init), nn.relu,
                     nn.dense(100, w_init=w_init), nn.relu, nn.dense(10, w_init=w_init))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=18)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)

    rows, histories, load_seconds = [], {}, []
    for seed in range(args.seeds):
        key = jax.random.key(seed)
        start = time.perf_counter()
        raw = data.load_splits("mnist", key=jax.random.fold_in(key, 0), data_dir=mnist_dir())
        load_seconds.append(time.perf_counter() - start)
        for name, (preprocess, w_init) in VARIANTS.items():
            splits = data.preprocess_splits(raw, preprocess)[0] if preprocess else raw
            result = train.fit(mlp(w_init), optim.adam(1e-3), losses.softmax_cross_entropy,
                               splits, key=jax.random.fold_in(key, 1), epochs=args.epochs,
                               batch_size=100, regularizer=regularizers.l2(5e-5))
            steps, seconds = int(result.state.step), result.history["wall_time"][-1]
            rows.append({"variant": name, "seed": seed, "steps": steps,
                         "train_acc": result.final["train"]["accuracy"],
                         "dev_acc": result.final["dev"]["accuracy"],
                         "test_acc": result.final["test"]["accuracy"],
                         "train_seconds": seconds, "steps_per_s": steps / seconds})
            histories.setdefault(name, result.history)
    summary = []
    for name in VARIANTS:
        tests = [row["test_acc"] for row in rows if row["variant"] == name]
        summary.append({"variant": name, "seeds": len(tests),
                        "test_acc_mean": statistics.mean(tests),
                        "test_acc_std": statistics.stdev(tests) if len(tests) > 1 else 0.0,
                        "test_acc_min": min(tests), "test_acc_max": max(tests)})
    payload = {"setup": __doc__.split("\n\n")[1], "course_test_acc": 0.9816,
               "load_seconds": load_seconds, "device": str(jax.devices()[0]),
               "summary": summary, "rows": rows, "histories": histories}
    table = markdown_table(summary) + "\n" + markdown_table(rows)
    out = write_results("mnist_mlp", payload, "# MNIST MLP 784-256-100-10 (Adam 1e-3, "
                        "L2 5e-5, batch 100)\n\nCourse: 98.16% test accuracy.\n\n" + table)
    first = next(iter(VARIANTS))
    plots.training_curves(histories[first], out / "mnist_mlp.png",
                          title=f"MNIST MLP ({first}, seed 0)")
    print(table)
    return payload


if __name__ == "__main__":
    main()
