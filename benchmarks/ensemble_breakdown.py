"""Where a naively vmapped ensemble step loses time on a CPU: the step split into its parts.

For K vmapped members of the benchmark MLP 784-256-100-10 with Adam (batch 100, one shared
batch), times per model-step of: the forward and backward pass ("grad"), the Adam update on
the stacked gradients ("adam") and the whole training step ("step"), each a jitted
function over the stacked members, relative to K = 1. Also prints the bytes of params +
Adam state per member (the working set an update streams through) and how XLA lowered the
vmapped matmuls (dots with a batch dimension vs plain ones).

    python benchmarks/ensemble_breakdown.py [--members 1,4,16,64] [--repeats 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="1,4,16,64")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import jax
    import optax

    from bench_train import mlp
    from jaxdl import losses, optim

    model = mlp()
    opt = optim.adam(1e-3)
    key = jax.random.key(0)
    x = jax.random.uniform(key, (100, 784))
    y = jax.random.randint(jax.random.fold_in(key, 1), (100,), 0, 10)

    _, model_state, _ = model.init(key, (784,))

    def loss_fn(params):
        logits, _ = model.apply(params, model_state, x)
        return losses.softmax_cross_entropy(logits, y)

    grad = jax.grad(loss_fn)

    def adam(grads, opt_state, params):
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def step(params, opt_state):
        return adam(grad(params), opt_state, params)

    def timed(fn, *operands) -> float:
        fn(*operands)[0]
        rounds = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for _ in range(args.repeats):
                out = fn(*operands)
            jax.block_until_ready(out)
            rounds.append((time.perf_counter() - start) / args.repeats)
        return statistics.median(rounds)

    members = [int(k) for k in args.members.split(",")]
    per_member_bytes = None
    results = {}
    for k in members:
        keys = jax.random.split(key, k)
        params = jax.vmap(lambda kk: model.init(kk, (784,))[0])(keys)
        opt_state = jax.vmap(opt.init)(params)
        grads = jax.vmap(grad)(params)
        parts = {"grad": (jax.jit(jax.vmap(grad)), (params,)),
                 "adam": (jax.jit(jax.vmap(adam)), (grads, opt_state, params)),
                 "step": (jax.jit(jax.vmap(step)), (params, opt_state))}
        results[k] = {name: timed(fn, *ops) / k for name, (fn, ops) in parts.items()}
        if per_member_bytes is None:
            leaves = jax.tree.leaves((params, opt_state))
            per_member_bytes = sum(leaf.nbytes for leaf in leaves) // k
        if k == max(members):
            hlo = jax.jit(jax.vmap(step)).lower(params, opt_state).compile().as_text()
            dots = re.findall(r"= f32\[[^\]]*\][^ ]* dot\((.*?)\), (.*)", hlo)
            batched = sum("lhs_batch_dims" in attrs for _, attrs in dots)
            print(f"K={k}: {len(dots)} dots in the compiled step, {batched} with a batch "
                  "dimension (the others: the shared input x folded into one wide matmul)")
    print(f"params + Adam state per member: {per_member_bytes / 2**20:.2f} MiB")
    print(f"{'K':>4} {'grad us/model':>14} {'adam us/model':>14} {'step us/model':>14} "
          f"{'rate vs K=1':>12}")
    base = results[members[0]]["step"]
    for k in members:
        r = results[k]
        print(f"{k:>4} {r['grad'] * 1e6:>14.1f} {r['adam'] * 1e6:>14.1f} "
              f"{r['step'] * 1e6:>14.1f} {base / r['step']:>11.2f}x")


if __name__ == "__main__":
    main()
