"""Hand-written optimizers (jaxdl.optim) against their optax twins: time of one update step.

One step is `update` + `optax.apply_updates` in one jitted function, on the parameter tree
of a 784-256-100-10 MLP (227,670 parameters, dict params with `w`/`b` leaves). Two modes:

* call: one jitted call per step (`jax.block_until_ready` after each), i.e. what a host
  loop pays, dispatch included;
* scan: 100 steps inside one jitted `lax.scan` (the gradient rescaled by a per-step factor,
  so nothing is hoisted out of the loop), time / 100: the compiled update alone, as it runs
  inside a scan-fused training epoch.

Compilation and warm-up calls are excluded; hand-written and optax runs are interleaved in
the same process (alternating which goes first) so machine noise hits both alike; the table
shows medians and the ratio jaxdl / optax.

    python benchmarks/bench_optim.py [--rounds 30] [--calls 20] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import optax

from jaxdl import optim
from jaxdl.nn.layer import weights_only

SCAN_STEPS = 100


def mlp_params(key, sizes=(784, 256, 100, 10)):
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        key, kw, kb = jax.random.split(key, 3)
        params[f"dense_{i}"] = {"w": jax.random.normal(kw, (n_in, n_out)) / n_in ** 0.5,
                                "b": 0.01 * jax.random.normal(kb, (n_out,))}
    return params


def pairs():
    """(name, jaxdl transformation, optax twin)."""
    sched = optim.schedules.exponential(1e-3, rate=0.95, every=1000)
    return [
        ("sgd", optim.sgd(1e-2), optax.sgd(1e-2)),
        ("momentum", optim.momentum(1e-2, 0.9), optax.sgd(1e-2, momentum=0.9)),
        ("momentum ewa+bc", optim.momentum(1e-2, 0.9, "ewa", bias_correction=True),
         optax.chain(optax.ema(0.9, debias=True), optax.scale(-1e-2))),
        ("nesterov", optim.nesterov(1e-2, 0.9), optax.sgd(1e-2, momentum=0.9, nesterov=True)),
        ("adagrad", optim.adagrad(1e-2, initial_accumulator=0.1), optax.adagrad(1e-2)),
        ("rmsprop", optim.rmsprop(1e-3),
         optax.rmsprop(1e-3, decay=0.9, eps=1e-7, eps_in_sqrt=False)),
        ("adam", optim.adam(1e-3), optax.adam(1e-3)),
        ("adam+schedule", optim.adam(sched), optax.adam(sched)),
        ("clip_by_global_norm", optim.clip_by_global_norm(1.0), optax.clip_by_global_norm(1.0)),
        ("weight_decay", optim.weight_decay(1e-4),
         optax.add_decayed_weights(1e-4, mask=weights_only)),
        ("clip+adam", optax.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3)),
         optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))),
    ]


def make_call_step(opt):
    @jax.jit
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return step


def make_scan_steps(opt):
    @jax.jit
    def steps(params, state, grads):
        def body(carry, i):
            p, s = carry
            # a gradient that changes every step (as in training), so that XLA cannot
            # hoist gradient-only work out of the loop
            g = jax.tree.map(lambda x: x * (1.0 + 1e-4 * i), grads)
            updates, s = opt.update(g, s, p)
            return (optax.apply_updates(p, updates), s), None

        return jax.lax.scan(body, (params, state), jnp.arange(SCAN_STEPS, dtype=jnp.float32))[0]

    return steps


class Runner:
    """A compiled step function with its own evolving (params, state)."""

    def __init__(self, opt, fn, params, grads, per_call_steps):
        self.fn, self.grads, self.per = fn, grads, per_call_steps
        self.params, self.state = params, opt.init(params)
        for _ in range(3):  # compile + warm-up
            self.call()

    def call(self) -> float:
        t0 = time.perf_counter()
        self.params, self.state = jax.block_until_ready(
            self.fn(self.params, self.state, self.grads))
        return (time.perf_counter() - t0) / self.per


def bench(opt_a, opt_b, make_fn, per, params, grads, rounds, calls):
    a = Runner(opt_a, make_fn(opt_a), params, grads, per)
    b = Runner(opt_b, make_fn(opt_b), params, grads, per)
    times_a, times_b = [], []
    for r in range(rounds):
        order = [(a, times_a), (b, times_b)] if r % 2 == 0 else [(b, times_b), (a, times_a)]
        for runner, out in order:
            out.extend(runner.call() for _ in range(calls))
    return statistics.median(times_a), statistics.median(times_b)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="interleaved rounds")
    parser.add_argument("--calls", type=int, default=20, help="timed calls per round and side")
    parser.add_argument("--scan-rounds", type=int, default=40, help="rounds in scan mode")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)

    params = mlp_params(jax.random.key(0))
    grads = jax.tree.map(lambda p: 0.01 * p + 1e-3, mlp_params(jax.random.key(1)))
    n_params = sum(p.size for p in jax.tree.leaves(params))
    print(f"jaxdl.optim vs optax: one update step (update + apply_updates), MLP 784-256-100-10 "
          f"({n_params:,} params), {jax.devices()[0].platform}, jax {jax.__version__}, "
          f"optax {optax.__version__}; medians")
    header = (f"{'optimizer':22s} {'jaxdl call':>11s} {'optax call':>11s} {'ratio':>6s}   "
              f"{'jaxdl scan':>11s} {'optax scan':>11s} {'ratio':>6s}")
    print(header)
    print("-" * len(header))
    rows = []
    for name, ours, twin in pairs():
        ca, cb = bench(ours, twin, make_call_step, 1, params, grads, args.rounds, args.calls)
        sa, sb = bench(ours, twin, make_scan_steps, SCAN_STEPS, params, grads,
                       args.scan_rounds, 1)
        rows.append({"optimizer": name, "jaxdl_call_us": ca * 1e6, "optax_call_us": cb * 1e6,
                     "call_ratio": ca / cb, "jaxdl_scan_us": sa * 1e6,
                     "optax_scan_us": sb * 1e6, "scan_ratio": sa / sb})
        print(f"{name:22s} {ca * 1e6:9.1f}us {cb * 1e6:9.1f}us {ca / cb:6.3f}   "
              f"{sa * 1e6:9.1f}us {sb * 1e6:9.1f}us {sa / sb:6.3f}", flush=True)
    worst = max(max(r["call_ratio"], r["scan_ratio"]) for r in rows)
    print(f"worst ratio: {worst:.3f} (target <= 1.1)")
    if args.json:
        meta = {"params": n_params, "platform": jax.devices()[0].platform,
                "device": str(jax.devices()[0]), "cpu_count": __import__("os").cpu_count(),
                "python": platform.python_version(), "jax": jax.__version__,
                "optax": optax.__version__, "rounds": args.rounds, "calls": args.calls,
                "scan_steps": SCAN_STEPS}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
