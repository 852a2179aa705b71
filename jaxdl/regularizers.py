"""Weight penalties: each regularizer is a pure function `params -> scalar`, usable in `grad`.

By default only weights (leaves named `w`) are penalized, not biases or batch-norm scales;
`mask` is a function `params -> pytree of bools` choosing the penalized leaves
(`lambda p: jax.tree.map(lambda _: True, p)` penalizes everything). Strengths may be
traced arrays, so a sweep vmaps over them; concrete ones must be finite and >= 0.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxdl._checks import check_range
from jaxdl.nn.layer import weights_only

Regularizer = Callable[..., jnp.ndarray]


def penalty(elementwise: Callable, mask=weights_only) -> Regularizer:
    """R(params) = sum over the masked leaves of sum(elementwise(leaf))."""

    def regularizer(params):
        selected = jax.tree.map(lambda leaf, keep: jnp.sum(elementwise(leaf)) if keep else 0.0,
                                params, mask(params))
        return sum(jax.tree.leaves(selected), jnp.zeros(()))

    return regularizer


def l2(lam, *, mask=weights_only) -> Regularizer:
    """R = lam / 2 * sum w^2 (weight decay), added to the batch-mean loss; dR/dw = lam * w.

    The course's forms, with the same mean loss (1/m) sum L in front:
    * the notes: J = (1/m) sum L + lambda / (2m) sum ||W||^2 (dw += lambda/m * w): pass
      lam = lambda / m, m the number of examples the notes' cost averages over;
    * the lecture: (1/T) sum l + lambda * sum ||W||_F^2 (gradient 2 lambda W): pass
      lam = 2 * lambda.
    """
    check_range("l2", "lam", lam, low=0.0)
    return penalty(lambda w: 0.5 * lam * w ** 2, mask)


@jax.custom_jvp
def _abs(w):
    """|w| whose derivative is sign(w) with sign(0) = 0 (autodiff of jnp.abs gives 1 at 0)."""
    return jnp.abs(w)


@_abs.defjvp
def _abs_jvp(primals, tangents):
    (w,), (dw,) = primals, tangents
    return jnp.abs(w), jnp.sign(w) * dw


def l1(lam, *, mask=weights_only) -> Regularizer:
    """R = lam * sum |w|; dR/dw = lam * sign(w), with sign(0) = 0 (the lecture's gradient).

    The L1 penalty's minimum is sparse, but (sub)gradient steps on it oscillate around 0
    and almost never land on an exact 0; for exact zeros use the proximal step
    `jaxdl.optim.proximal_l1(lam, lr)` after the optimizer instead of this penalty.
    Course forms: the lecture's lambda * sum |W|: pass lam = lambda; the notes'
    lambda / (2m) * sum |w|: pass lam = lambda / (2m).
    """
    check_range("l1", "lam", lam, low=0.0)
    return penalty(lambda w: lam * _abs(w), mask)


def l0(lam, *, eps=1e-2, mask=weights_only) -> Regularizer:
    """Smooth surrogate of lam * (number of nonzero weights): R = lam * sum w^2 / (w^2 + eps).

    Each term is 0 at w = 0 and tends to 1 for |w| >> sqrt(eps); as eps -> 0 the sum tends
    to the count ||w||_0, which itself has zero gradient almost everywhere.
    """
    check_range("l0", "lam", lam, low=0.0)
    check_range("l0", "eps", eps, low=0.0, low_open=True)
    return penalty(lambda w: lam * w ** 2 / (w ** 2 + eps), mask)


def elastic_net(l1_lam, l2_lam, *, mask=weights_only) -> Regularizer:
    """R = l1_lam * sum |w| + l2_lam / 2 * sum w^2 (Zou & Hastie, 2005)."""
    check_range("elastic_net", "l1_lam", l1_lam, low=0.0)
    check_range("elastic_net", "l2_lam", l2_lam, low=0.0)
    return combine(l1(l1_lam, mask=mask), l2(l2_lam, mask=mask))


def combine(*regularizers: Regularizer) -> Regularizer:
    """The sum of several regularizers."""
    return lambda params: sum((r(params) for r in regularizers), jnp.zeros(()))
