"""Training throughput: jaxdl's scan-fused epoch vs a per-step jitted Python loop.

Model 784-256-100-10 (ReLU, He init), Adam 1e-3, L2 5e-5, batch 100, on MNIST-shaped
random data (no dataset needed). Three ways to run the same optimizer steps:
  scan        jaxdl.train's compiled epoch: one call per epoch, batches gathered on device;
  loop        a Python loop calling a jitted train step per batch, batches sliced on the
              host from numpy and transferred (the common hand-written loop);
  loop-device the same loop, but the data lives on device and each batch is gathered by
              a jitted index (no host->device copy of data per step).
Rounds interleave the three, so machine noise hits all alike; medians are reported, with
ratios to the per-step loop.

    python benchmarks/bench_train.py [--examples 11000] [--rounds 5] [--json PATH]
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

from jaxdl import data, initializers, losses, nn, optim, regularizers, train


def mlp():
    he = initializers.he_normal()
    return nn.serial(nn.dense(256, w_init=he), nn.relu, nn.dense(100, w_init=he), nn.relu,
                     nn.dense(10, w_init=he))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=11000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)

    key = jax.random.key(0)
    x_host = np.asarray(jax.random.uniform(key, (args.examples, 784)), np.float32)
    y_host = np.asarray(jax.random.randint(jax.random.fold_in(key, 1), (args.examples,), 0, 10),
                        np.int32)
    x, y = jnp.asarray(x_host), jnp.asarray(y_host)
    model, opt = mlp(), optim.adam(1e-3)
    step = train.make_train_step(model, opt, losses.softmax_cross_entropy,
                                 regularizers.l2(5e-5))
    steps_per_epoch = data.num_batches(args.examples, args.batch_size, drop_remainder=True)
    epoch = jax.jit(train.make_epoch(step, args.batch_size, drop_remainder=True))
    jit_step = jax.jit(step)
    gather = jax.jit(lambda x, y, idx: (x[idx], y[idx]))
    state0 = train.init_state(model, opt, (784,), key=key)

    def run_scan(state, epoch_index):
        state, _ = epoch(state, x, y, jax.random.fold_in(key, epoch_index))
        return state

    def run_loop(state, epoch_index):
        order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch_index),
                                                  args.examples))
        for b in range(steps_per_epoch):
            idx = order[b * args.batch_size:(b + 1) * args.batch_size]
            state, _ = jit_step(state, (x_host[idx], y_host[idx]))
        return state

    def run_loop_device(state, epoch_index):
        indices, _ = data.epoch_batches(jax.random.fold_in(key, epoch_index), args.examples,
                                        args.batch_size, drop_remainder=True)
        for b in range(steps_per_epoch):
            state, _ = jit_step(state, gather(x, y, indices[b]))
        return state

    runners = {"scan": run_scan, "loop": run_loop, "loop-device": run_loop_device}
    for run in runners.values():  # compile and warm up
        jax.block_until_ready(run(state0, 0))
    times = {name: [] for name in runners}
    for r in range(args.rounds):
        for name, run in runners.items():
            start = time.perf_counter()
            jax.block_until_ready(run(state0, r + 1))
            times[name].append(time.perf_counter() - start)

    loop_rate = steps_per_epoch / statistics.median(times["loop"])
    rows = []
    for name, ts in times.items():
        rate = steps_per_epoch / statistics.median(ts)
        rows.append({"method": name, "steps_per_s": rate, "ratio_to_loop": rate / loop_rate})
    result = {"device": str(jax.devices()[0]), "machine": platform.processor() or
              platform.machine(), "cpus": jax.local_device_count(), "examples": args.examples,
              "batch_size": args.batch_size, "steps_per_epoch": steps_per_epoch,
              "rounds": args.rounds, "rows": rows}
    print(f"MLP 784-256-100-10, Adam, batch {args.batch_size}, {steps_per_epoch} steps per "
          f"epoch, median of {args.rounds} interleaved rounds on {result['device']}")
    print(f"{'method':<12} {'steps/s':>9} {'vs loop':>8}")
    for row in rows:
        print(f"{row['method']:<12} {row['steps_per_s']:>9.1f} {row['ratio_to_loop']:>7.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
