"""CNN training epoch: jaxdl's `train.fit` vs a hand-written jitted lax.scan + optax program.

Model conv 32 (3x3, SAME) - relu - max_pool 2 - conv 64 - relu - max_pool 2 - flatten -
dense 128 - relu - dense 10, Adam 1e-3, softmax cross-entropy, on random 28x28x1 images
(no dataset needed). Both programs start from the same parameters and draw their batches
on device from a keyed permutation, one lax.scan per epoch:
  fit          jaxdl `train.fit` (its compiled epoch, the per-epoch host work, the guards);
               an epoch's time is the difference of consecutive `wall_time` entries of its
               history (the first epoch, which compiles, is left out);
  hand-written lax.conv_general_dilated, lax.reduce_window, matmuls, optax.adam and
               optax's softmax cross-entropy in one jitted scan, no jaxdl at all.
The two are interleaved: a `fit` callback runs and times one hand-written epoch after each
fit epoch, so machine noise hits both alike. Medians; ratio = hand-written time / fit time
(above 1: jaxdl is faster).

    python benchmarks/bench_cnn.py [--examples 512] [--batch-size 128] [--epochs 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxdl import initializers, losses, nn, optim, train


def cnn():
    he = initializers.he_normal()
    return nn.serial(nn.conv(32, 3, w_init=he), nn.relu, nn.max_pool(2),
                     nn.conv(64, 3, w_init=he), nn.relu, nn.max_pool(2), nn.flatten,
                     nn.dense(128, w_init=he), nn.relu, nn.dense(10, w_init=he))


def hand_written_forward(params, x):
    """The same network written directly against lax (params: jaxdl's init layout)."""
    def conv(p, h):
        return lax.conv_general_dilated(h, p["w"], (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC")) + p["b"]

    def pool(h):
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    h = pool(jax.nn.relu(conv(params[0], x)))
    h = pool(jax.nn.relu(conv(params[3], h)))
    h = jax.nn.relu(h.reshape(h.shape[0], -1) @ params[7]["w"] + params[7]["b"])
    return h @ params[9]["w"] + params[9]["b"]


def make_hand_written_epoch(opt, batch_size: int):
    def loss_fn(params, x, y):
        logits = hand_written_forward(params, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def step(carry, idx):
        params, opt_state, x, y = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
        updates, opt_state = opt.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, x, y), loss

    @jax.jit
    def epoch(params, opt_state, x, y, key):
        steps = x.shape[0] // batch_size
        order = jax.random.permutation(key, x.shape[0])[:steps * batch_size]
        (params, opt_state, _, _), loss = lax.scan(step, (params, opt_state, x, y),
                                                   order.reshape(steps, batch_size))
        return params, opt_state, loss.mean()

    return epoch


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (fit runs one more)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    key = jax.random.key(0)
    x = jax.random.uniform(key, (args.examples, 28, 28, 1))
    y = jax.random.randint(jax.random.fold_in(key, 1), (args.examples,), 0, 10)
    model = cnn()
    steps_per_epoch = args.examples // args.batch_size

    hand_epoch = make_hand_written_epoch(optax.adam(1e-3), args.batch_size)
    params0 = train.init_state(model, optim.adam(1e-3), (28, 28, 1), key=key).params
    hand = {"params": params0, "opt_state": optax.adam(1e-3).init(params0), "times": [],
            "loss": None}
    jax.block_until_ready(hand_epoch(params0, hand["opt_state"], x, y, key))  # compile

    def interleave(epoch, state, metrics):
        start = time.perf_counter()
        hand["params"], hand["opt_state"], loss = jax.block_until_ready(
            hand_epoch(hand["params"], hand["opt_state"], x, y, jax.random.fold_in(key, epoch)))
        hand["times"].append(time.perf_counter() - start)
        hand["loss"] = float(loss)

    result = train.fit(model, optim.adam(1e-3), losses.softmax_cross_entropy, (x, y), key=key,
                       epochs=args.epochs + 1, batch_size=args.batch_size, drop_remainder=True,
                       callbacks=[interleave], verbose=False)
    fit_times = np.diff(result.history["wall_time"]).tolist()  # epochs 2.. (1 compiles)
    fit_time, hand_time = statistics.median(fit_times), statistics.median(hand["times"][1:])
    rows = [{"method": "fit", "epoch_s": fit_time, "steps_per_s": steps_per_epoch / fit_time,
             "final_train_loss": result.history["train_loss"][-1]},
            {"method": "hand-written", "epoch_s": hand_time,
             "steps_per_s": steps_per_epoch / hand_time, "final_train_loss": hand["loss"]}]
    out = {"device": str(jax.devices()[0]), "machine": platform.processor() or
           platform.machine(), "examples": args.examples, "batch_size": args.batch_size,
           "steps_per_epoch": steps_per_epoch, "timed_epochs": args.epochs, "rows": rows,
           "ratio_hand_written_over_fit": hand_time / fit_time}
    print(f"CNN conv32-pool-conv64-pool-dense128-10, Adam, batch {args.batch_size}, "
          f"{steps_per_epoch} steps per epoch, median of {args.epochs} interleaved epochs on "
          f"{out['device']}")
    print(f"{'method':<13} {'epoch s':>8} {'steps/s':>8} {'train loss':>11}")
    for row in rows:
        print(f"{row['method']:<13} {row['epoch_s']:>8.3f} {row['steps_per_s']:>8.1f} "
              f"{row['final_train_loss']:>11.4f}")
    print(f"jaxdl fit speed relative to the hand-written program: "
          f"{out['ratio_hand_written_over_fit']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
