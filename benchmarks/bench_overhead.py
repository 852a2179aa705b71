"""Fixed cost of a training run: compile included, `train.fit` vs a hand-written program.

Model 784-256-100-10 (ReLU, He init), Adam 1e-3, batch 100, on MNIST-shaped random data (no
dataset needed), train split only. Jobs, each timed from the call to its finished result:
  hand 1 / hand 5     a hand-written jitted `lax.scan` epoch with optax.adam, compiled for
                      the run (a fresh closure: compile included), 1 or 5 epochs;
  fit 1 / fit 5       `train.fit` with a structure seen for the first time (jaxdl's program
                      cache cleared), 1 or 5 epochs;
  fit again           a second `fit` of 1 epoch with a new key and a new learning rate;
                      "fixed" = its time minus the hand-written program's epoch run time;
  16 fits / ensemble  --runs `fit` calls of 3 epochs on 5,000 examples with new seeds, vs
                      one first `ensemble.fit(members=--runs)` (cache cleared).
Rounds interleave the jobs, so machine noise hits all alike; the first round warms JAX's
own small programs and is dropped; medians are reported, with ratios to the hand-written
program. JAX's persistent compilation cache stays off.

    python benchmarks/bench_overhead.py [--rounds 3] [--runs 16] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import optax

from jaxdl import ensemble, initializers, losses, nn, optim, train


def mlp():
    he = initializers.he_normal()
    return nn.serial(nn.dense(256, w_init=he), nn.relu, nn.dense(100, w_init=he), nn.relu,
                     nn.dense(10, w_init=he))


def forget_programs():
    """Clear jaxdl's caches of compiled programs (whichever this version has)."""
    try:
        from jaxdl import compile_cache
    except ImportError:  # before the cache existed
        pass
    else:
        compile_cache.clear()
    if hasattr(ensemble, "_cached_programs"):  # the ensemble's cache before compile_cache
        ensemble._cached_programs.cache_clear()


def hand_written(x, y, epochs: int, batch_size: int, key) -> float:
    """A hand-written Adam run: init, then `epochs` jitted lax.scan epochs; compile included.
    epochs=0: the run time of one epoch alone, compiled before the clock starts."""
    sizes = [(784, 256), (256, 100), (100, 10)]
    opt = optax.adam(1e-3)

    def init(key):
        keys = jax.random.split(key, len(sizes))
        return [(jax.random.normal(k, s) * jnp.sqrt(2.0 / s[0]), jnp.zeros(s[1]))
                for k, s in zip(keys, sizes)]

    def loss_fn(params, xb, yb):
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, yb).mean()

    @jax.jit
    def epoch(params, opt_state, key, x, y):
        order = jax.random.permutation(key, x.shape[0])
        batches = order[: x.shape[0] // batch_size * batch_size].reshape(-1, batch_size)

        def body(carry, idx):
            params, opt_state = carry
            loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss
        (params, opt_state), per_step = jax.lax.scan(body, (params, opt_state), batches)
        return params, opt_state, per_step.mean()

    start = time.perf_counter()
    params = jax.jit(init)(key)
    opt_state = jax.jit(opt.init)(params)
    if epochs == 0:  # the run time of one compiled epoch
        float(epoch(params, opt_state, key, x, y)[2])
        start = time.perf_counter()
        epochs = 1
    for e in range(epochs):
        params, opt_state, loss = epoch(params, opt_state, jax.random.fold_in(key, e), x, y)
    float(loss)
    return time.perf_counter() - start


def timed(fn) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=11000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (plus a warm-up)")
    parser.add_argument("--runs", type=int, default=16, help="fits vs ensemble members")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    jax.config.update("jax_enable_compilation_cache", False)

    key = jax.random.key(0)
    x = jax.random.uniform(key, (args.examples, 784))
    y = jax.random.randint(jax.random.fold_in(key, 1), (args.examples,), 0, 10)
    small = (x[:5000], y[:5000])
    loss, bs = losses.softmax_cross_entropy, args.batch_size

    def fit(epochs, data=(x, y), seed=0, lr=1e-3):
        return train.fit(mlp(), optim.adam(lr), loss, data, key=jax.random.key(seed),
                         epochs=epochs, batch_size=bs, verbose=False).params

    def fresh(fn):
        forget_programs()
        return timed(fn)

    jobs = {
        "hand 1": lambda: hand_written(x, y, 1, bs, key),
        "hand 5": lambda: hand_written(x, y, 5, bs, key),
        "fit 1": lambda: fresh(lambda: fit(1)),
        "fit 5": lambda: fresh(lambda: fit(5)),
        "fit again": lambda: (fit(1, seed=1), timed(lambda: fit(1, seed=2, lr=2e-3)))[1],
        "hand epoch": lambda: hand_written(x, y, 0, bs, key),
        f"{args.runs} fits": lambda: fresh(lambda: [fit(3, small, seed=s)
                                                   for s in range(args.runs)]),
        "ensemble": lambda: fresh(lambda: ensemble.fit(
            mlp(), optim.adam(1e-3), loss, small, key=key, members=args.runs, epochs=3,
            batch_size=bs, verbose=False).params),
    }
    times = {name: [] for name in jobs}
    for r in range(args.rounds + 1):
        for name, job in jobs.items():
            seconds = job()
            if r:
                times[name].append(seconds)
            print(f"round {r} {name:<10} {seconds:7.2f} s", flush=True)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rows = [
        {"job": "1 epoch", "hand_s": med["hand 1"], "fit_s": med["fit 1"],
         "ratio": med["fit 1"] / med["hand 1"]},
        {"job": "5 epochs", "hand_s": med["hand 5"], "fit_s": med["fit 5"],
         "ratio": med["fit 5"] / med["hand 5"]},
        {"job": "second fit, 1 epoch (new key, lr)", "hand_s": med["hand epoch"],
         "fit_s": med["fit again"], "fixed_s": med["fit again"] - med["hand epoch"]},
        {"job": f"{args.runs} runs of 3 epochs, 5,000 examples", "fits_s": med[f"{args.runs} fits"],
         "ensemble_s": med["ensemble"],
         "ratio": med[f"{args.runs} fits"] / med["ensemble"]},
    ]
    result = {"device": str(jax.devices()[0]), "machine": platform.processor() or
              platform.machine(), "examples": args.examples, "batch_size": bs,
              "rounds": args.rounds, "median_s": med, "all_s": times, "rows": rows}
    print(f"\nMLP 784-256-100-10, Adam, batch {bs}, {args.examples} examples; median of "
          f"{args.rounds} interleaved rounds on {result['device']}")
    for row in rows:
        print("  " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{v}"
                               for k, v in row.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
