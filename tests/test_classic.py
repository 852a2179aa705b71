"""jaxdl.classic against the lecture's worked examples (003: MCP neurons, Hebb, perceptron)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import classic

BINARY = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])  # the lecture's order of the AND pairs
BIPOLAR = 2 * BINARY - 1
AND_BIPOLAR = np.array([1, -1, -1, -1])
ROWS = np.array(list(itertools.product((0, 1), repeat=2)))  # truth-table order 00 01 10 11


# ------------------------------------------------------------------ McCulloch-Pitts


def test_mcp_neuron_fires_when_the_weighted_sum_reaches_the_threshold():
    # sums 2*x1 - x2 on 00, 01, 10, 11 are 0, -1, 2, 1: only the last two reach 1
    y = classic.mcp_neuron(jnp.array([2, -1]), 1)(ROWS)
    np.testing.assert_array_equal(y, [0, 0, 1, 1])
    assert classic.mcp_neuron(jnp.array([2, -1]), 1)(jnp.array([1, 1])) == 1  # one vector


def test_an_active_inhibitory_input_forces_zero_and_its_weight_never_counts():
    for weight in (0, 5):  # x1 AND NOT x2, with x2 inhibitory
        gate = classic.Gate((1, weight), 1, inhibitory=(False, True))
        np.testing.assert_array_equal(gate(ROWS), [0, 0, 1, 0])
    # without the flag, the weight 5 would make 01 and 11 fire
    np.testing.assert_array_equal(classic.Gate((1, 5), 1)(ROWS), [0, 1, 1, 1])


@pytest.mark.parametrize("name, logic", [
    ("AND", lambda a, b: a and b), ("OR", lambda a, b: a or b),
    ("NAND", lambda a, b: not (a and b)), ("NOR", lambda a, b: not (a or b)),
    ("XOR", lambda a, b: a != b)])
def test_gates_compute_their_logic_function(name, logic):
    table = classic.truth_table(classic.gates[name], 2)
    np.testing.assert_array_equal(table.inputs, ROWS)
    np.testing.assert_array_equal(table.outputs, [int(logic(a, b)) for a, b in ROWS])


def test_not_gate_and_xor_is_two_layers_of_or_nand_and():
    np.testing.assert_array_equal(classic.truth_table(classic.gates["NOT"], 1).outputs, [1, 0])
    xor = classic.gates["XOR"]
    assert xor.hidden == (classic.gates["OR"], classic.gates["NAND"])
    assert xor.output == classic.gates["AND"]


def test_the_lectures_bird_eats_only_the_blueberry():
    # (purple, round) of the blueberry, the golf ball, the violet and the hot dog
    purple_round = jnp.array([[1, 1], [0, 1], [1, 0], [0, 0]])
    np.testing.assert_array_equal(classic.gates["AND"](purple_round), [1, 0, 0, 0])


def test_truth_table_markdown():
    text = classic.truth_table(classic.gates["XOR"], 2).to_markdown()
    assert text.splitlines()[0] == "| in1 | in2 | out |"
    assert "| 1 | 1 | 0 |" in text and "| 0 | 1 | 1 |" in text


def test_no_single_mcp_neuron_computes_xor_but_every_separable_function_is_found():
    xor = classic.search_mcp(jnp.array([0, 1, 1, 0]), max_weight=3)
    assert xor.n_candidates == 7 ** 2 * 14 and xor.n_solutions == 0
    assert ((1, 1), 2) in classic.search_mcp(jnp.array([0, 0, 0, 1])).solutions()  # AND
    found = {t for t in itertools.product((0, 1), repeat=4)
             if classic.search_mcp(jnp.array(t), max_weight=1).n_solutions}
    assert len(found) == 14
    assert set(itertools.product((0, 1), repeat=4)) - found == {(0, 1, 1, 0), (1, 0, 0, 1)}


def test_mcp_inputs_are_checked():
    with pytest.raises(ValueError, match="mcp_neuron: x must contain only 0, 1; got 2"):
        classic.gates["AND"](jnp.array([2, 0]))
    with pytest.raises(ValueError, match="mcp_neuron: x must have 2 inputs"):
        classic.gates["AND"](jnp.array([1, 0, 1]))
    with pytest.raises(ValueError, match="inhibitory must have shape"):
        classic.mcp_neuron(jnp.array([1, 1]), 1, inhibitory=(True,))
    with pytest.raises(ValueError, match="search_mcp: target must list 2\\*\\*n"):
        classic.search_mcp(jnp.array([0, 1, 1]))


# ------------------------------------------------------------------ Hebb's rule


def test_to_bipolar():
    np.testing.assert_array_equal(classic.to_bipolar(jnp.array([[0, 1], [1, 1]])),
                                  [[-1, 1], [1, 1]])
    with pytest.raises(ValueError, match="to_bipolar: a must contain only 0, 1; got -1"):
        classic.to_bipolar(jnp.array([-1, 1]))


def test_hebb_binary_and_learns_only_from_the_first_pair():
    result = classic.hebb(BINARY, np.array([1, 0, 0, 0]))
    np.testing.assert_array_equal(result.weights, [1, 1])
    assert result.bias == 1
    np.testing.assert_array_equal(result.trace.dw, [[1, 1], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(np.c_[result.trace.weights, result.trace.bias], [[1, 1, 1]] * 4)
    assert str(classic.boundary(result.weights, result.bias)) == "x2 = -x1 - 1"


def test_hebb_bipolar_and_gives_the_lectures_weights_lines_and_classifies_all_four():
    result = classic.hebb(BIPOLAR, AND_BIPOLAR)
    np.testing.assert_array_equal(result.weights, [2, 2])
    assert result.bias == -2
    trace = result.trace
    np.testing.assert_array_equal(np.c_[trace.dw, trace.db],
                                  [[1, 1, 1], [-1, 1, -1], [1, -1, -1], [1, 1, -1]])
    np.testing.assert_array_equal(np.c_[trace.weights, trace.bias],
                                  [[1, 1, 1], [0, 2, 0], [1, 1, -1], [2, 2, -2]])
    lines = [str(classic.boundary(w, b)) for w, b in zip(trace.weights, trace.bias)]
    assert lines == ["x2 = -x1 - 1", "x2 = 0", "x2 = -x1 + 1", "x2 = -x1 + 1"]
    np.testing.assert_array_equal(np.sign(BIPOLAR @ result.weights + result.bias), AND_BIPOLAR)


def test_hebb_fails_on_the_lectures_separable_three_input_problem():
    x = np.array([[1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]])
    t = np.array([1, -1, -1, -1])
    result = classic.hebb(x, t)
    np.testing.assert_array_equal(np.c_[result.trace.weights, result.trace.bias],
                                  [[1, 1, 1, 1], [0, 0, 2, 0], [-1, 1, 1, -1], [0, 0, 0, -2]])
    wrong = np.sign(x @ result.weights + result.bias) != t
    np.testing.assert_array_equal(wrong, [True, False, False, False])  # the first pattern
    assert np.all(np.sign(x @ np.array([1, 1, 1]) - 2) == t)  # yet a separating unit exists
    fit = classic.perceptron(x, t)
    assert fit.converged and np.all(np.sign(x @ fit.weights + fit.bias) == t)


def test_hebb_starts_from_w0_b0_and_its_trace_prints_the_lectures_table():
    result = classic.hebb(BIPOLAR, AND_BIPOLAR, w0=jnp.array([1.0, 0.0]), b0=0.5)
    np.testing.assert_array_equal(result.weights, [3, 2])
    assert result.bias == -1.5
    table = classic.hebb(BIPOLAR, AND_BIPOLAR).trace.to_markdown().splitlines()
    assert table[0] == ("| input (x1 x2 1) | target | weight changes (Δw1 Δw2 Δb) | "
                        "weights (w1 w2 b) | separating line |")
    assert table[2] == "| start |  |  | (0 0 0) | no line (w = 0) |"
    assert table[4] == "| (1 -1 1) | -1 | (-1 1 -1) | (0 2 0) | x2 = 0 |"
    assert table[6] == "| (-1 -1 1) | -1 | (1 1 -1) | (2 2 -2) | x2 = -x1 + 1 |"


def test_hebb_vmaps_over_problems_and_a_batched_trace_refuses_to_print():
    targets = jnp.array([AND_BIPOLAR, [1, 1, 1, -1]])  # AND, OR
    batched = jax.vmap(lambda t: classic.hebb(BIPOLAR, t))(targets)
    np.testing.assert_array_equal(batched.weights, [[2, 2], [2, 2]])
    np.testing.assert_array_equal(batched.bias, [-2, 2])
    with pytest.raises(ValueError, match="one run"):
        batched.trace.to_markdown()
    one = jax.tree.map(lambda a: a[1], batched.trace)
    assert "| (-1 -1 1) | -1 | (1 1 -1) | (2 2 2) | x2 = -x1 - 1 |" in one.to_markdown()


def test_hebb_checks_shapes():
    with pytest.raises(ValueError, match="hebb: y must have shape \\(4,\\)"):
        classic.hebb(BIPOLAR, AND_BIPOLAR[:3])
    with pytest.raises(ValueError, match="hebb: w0 must have shape \\(2,\\)"):
        classic.hebb(BIPOLAR, AND_BIPOLAR, w0=jnp.zeros(3))
    with pytest.raises(ValueError, match="hebb: x must be 2-D"):
        classic.hebb(BIPOLAR[0], AND_BIPOLAR[:1])


def test_boundary_lines_including_the_vertical_case():
    assert str(classic.boundary([1, 2], 1)) == "x2 = -0.5 x1 - 0.5"
    assert str(classic.boundary([-3, 1], 0)) == "x2 = 3 x1"
    assert str(classic.boundary([2, 0], -1)) == "x1 = 0.5"
    assert classic.boundary([2, 0], -1) == classic.Boundary(None, None, 0.5)
    assert str(classic.boundary([0, 0], 1)) == "no line (w = 0)"
    assert classic.boundary([2, 0], -1).segment(-2, 2) == ((0.5, 0.5), (-2, 2))
    assert classic.boundary([1, 1], -1).segment(-2, 2) == ((-2, 2), (3, -1))
    assert classic.boundary([0, 0], 1).segment(-2, 2) is None
    with pytest.raises(ValueError, match="boundary: w must hold the 2 weights"):
        classic.boundary([1, 1, 1], 0)


# ------------------------------------------------------------------ the perceptron


def _separates(w, b, x, t):
    return bool(np.all(np.sign(np.asarray(x) @ np.asarray(w) + float(b)) == np.asarray(t)))


def test_perceptron_learns_bipolar_and_and_or_in_two_epochs():
    # AND: updates on pairs 1, 3, 4 of epoch 1 (w, b: (1 1 1), (2 0 0), (1 1 -1)); OR: pair 1
    for target, bias, first in ((AND_BIPOLAR, -1, 3), (np.array([1, 1, 1, -1]), 1, 1)):
        fit = classic.perceptron(BIPOLAR, target)
        assert fit.converged and fit.epochs == 2
        np.testing.assert_array_equal(fit.errors[:3], [first, 0, 0])
        np.testing.assert_array_equal(fit.weights, [1, 1])
        assert fit.bias == bias and _separates(fit.weights, fit.bias, BIPOLAR, target)


def test_perceptron_does_not_converge_on_xor_and_says_so():
    fit = classic.perceptron(BIPOLAR, np.array([-1, 1, 1, -1]), max_epochs=50)
    assert not fit.converged and fit.epochs == 50
    assert fit.errors.shape == (50,) and np.all(fit.errors > 0)


def test_perceptron_with_a_threshold_band_reproduces_fausetts_binary_and():
    # Fausett (1994), the perceptron for AND with binary inputs, bipolar targets, theta 0.2:
    # w = (2, 3), b = -4; the tenth epoch is the first without an update
    fit = classic.perceptron(BINARY, AND_BIPOLAR, theta=0.2)
    np.testing.assert_array_equal(fit.weights, [2, 3])
    assert fit.bias == -4 and fit.epochs == 10 and fit.converged
    net = BINARY @ np.asarray(fit.weights) + float(fit.bias)
    assert np.all(AND_BIPOLAR * net > 0.2)  # every example outside the band


def _numpy_perceptron(x, t, lr, theta, max_epochs, orders):
    """An independent loop: Rosenblatt's rule with a threshold band, in float64."""
    w, b, errors = np.zeros(x.shape[1]), 0.0, []
    for epoch in range(max_epochs):
        updates = 0
        for i in orders[epoch]:
            net = x[i] @ w + b
            out = 1.0 if net > theta else (-1.0 if net < -theta else 0.0)
            if out != t[i]:
                w, b, updates = w + lr * t[i] * x[i], b + lr * t[i], updates + 1
        errors.append(updates)
        if updates == 0:
            break
    return w, b, errors


@pytest.mark.parity
@pytest.mark.parametrize("shuffle", [False, True])
def test_perceptron_matches_a_numpy_loop(shuffle):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 3))
    t = np.sign(x @ rng.normal(size=3) + 0.3)  # separable by construction
    key = jax.random.key(9) if shuffle else None
    orders = (np.asarray(jax.vmap(lambda e: jax.random.permutation(jax.random.fold_in(key, e),
                                                                   30))(jnp.arange(40)))
              if shuffle else [np.arange(30)] * 40)
    with jax.enable_x64(True):
        fit = classic.perceptron(x, t, lr=0.3, theta=0.1, max_epochs=40, shuffle_key=key)
    w, b, errors = _numpy_perceptron(x, t, 0.3, 0.1, 40, orders)
    assert int(fit.epochs) == len(errors) > 3 and fit.converged
    np.testing.assert_array_equal(fit.errors[:len(errors)], errors)
    np.testing.assert_allclose(fit.weights, w, rtol=1e-12)
    np.testing.assert_allclose(fit.bias, b, rtol=1e-12)


def test_perceptron_converges_on_100_vmapped_blob_problems_within_novikoffs_bound():
    problems = jax.jit(jax.vmap(lambda k: classic.separable_blobs(k, 25)))(
        jax.random.split(jax.random.key(0), 100))
    fits = jax.vmap(lambda x, y: classic.perceptron(x, y, max_epochs=500))(problems.x, problems.y)
    assert fits.weights.shape == (100, 2) and bool(fits.converged.all())
    assert int(fits.epochs.max()) < 500 and int(fits.epochs.min()) >= 2
    margins = problems.y * (jnp.einsum("pnd,pd->pn", problems.x, fits.weights)
                            + fits.bias[:, None])
    assert bool((margins > 0).all())  # every final line separates its data
    updates = fits.errors.sum(axis=1)
    bound = jax.vmap(classic.novikoff_bound)(problems.x, problems.y, problems.w, problems.b)
    own = jax.vmap(classic.novikoff_bound)(problems.x, problems.y, fits.weights, fits.bias)
    assert bool(jnp.isfinite(bound).all()) and bool((updates <= bound).all())
    assert bool((updates <= own).all())  # any separator's margin gives a valid bound
    single = classic.perceptron(problems.x[7], problems.y[7], max_epochs=500)
    np.testing.assert_array_equal(single.weights, fits.weights[7])
    assert single.epochs == fits.epochs[7]


def test_novikoff_bound_by_hand():
    x = np.array([[3.0, 0.0], [-1.0, 0.0]])
    t = np.array([1.0, -1.0])
    # augmented |(3, 0, 1)| = sqrt(10); w = (1, 0), b = 0: margins 3, 1 -> gamma 1
    np.testing.assert_allclose(classic.novikoff_bound(x, t, [1.0, 0.0], 0.0), 10.0, rtol=1e-6)
    assert classic.novikoff_bound(x, t, [-1.0, 0.0], 0.0) == np.inf  # not a separator


def test_separable_blobs_have_the_promised_margin():
    problem = classic.separable_blobs(jax.random.key(1), 200, dim=3, separation=1.0, margin=0.25)
    assert problem.x.shape == (400, 3)
    np.testing.assert_array_equal(problem.y, np.repeat([-1.0, 1.0], 200))
    np.testing.assert_allclose(jnp.linalg.norm(problem.w), 1.0, rtol=1e-6)
    side = problem.y * (problem.x @ problem.w + problem.b)
    assert float(side.min()) >= 0.25 - 1e-5  # separation 1 < 2*margin: many points were moved
    assert float(jnp.mean(side < 0.25 + 1e-5)) > 0.1


def test_perceptron_lr_and_theta_may_be_traced_in_a_jitted_sweep():
    sweep = jax.jit(jax.vmap(lambda lr, theta: classic.perceptron(
        BINARY, AND_BIPOLAR, lr=lr, theta=theta, max_epochs=30)))
    fits = sweep(jnp.array([1.0, 1.0, 0.5]), jnp.array([0.2, 0.0, 0.1]))
    np.testing.assert_array_equal(fits.weights[0], [2, 3])  # Fausett's run inside the sweep
    assert bool(fits.converged.all())
    for w, b in zip(fits.weights, fits.bias):
        assert _separates(w, b, BINARY, AND_BIPOLAR)


def test_perceptron_arguments_are_checked():
    with pytest.raises(ValueError, match="perceptron: y must contain only -1, 1; got 0"):
        classic.perceptron(BINARY, np.array([1, 0, 0, 0]))
    with pytest.raises(ValueError, match="perceptron: lr must be in \\(0, inf\\), got 0"):
        classic.perceptron(BIPOLAR, AND_BIPOLAR, lr=0.0)
    with pytest.raises(ValueError, match="perceptron: theta must be in \\[0, inf\\)"):
        classic.perceptron(BIPOLAR, AND_BIPOLAR, theta=-0.1)
    with pytest.raises(TypeError, match="perceptron: max_epochs must be an integer"):
        classic.perceptron(BIPOLAR, AND_BIPOLAR, max_epochs=10.0)
    with pytest.raises(TypeError, match="perceptron: key must be a JAX random key"):
        classic.perceptron(BIPOLAR, AND_BIPOLAR, shuffle_key=3)
    with pytest.raises(TypeError, match="separable_blobs: key must be a JAX random key"):
        classic.separable_blobs(0, 10)


def test_perceptron_criterion_by_hand_and_its_gradient():
    w, b = jnp.array([1.0, -1.0]), 0.0
    x, t = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, -2.0]]), jnp.array([-1.0, 1, 1, 1])
    # nets 1, -1, 0, 2 -> margins -1, -1, 0, 2: the first three are misclassified (<= 0)
    assert classic.perceptron_criterion(w, b, x, t) == 2.0
    grad_w, grad_b = jax.grad(classic.perceptron_criterion, argnums=(0, 1))(w, b, x, t)
    np.testing.assert_array_equal(grad_w, [0.0, -2.0])  # -sum_M t x = -((-1, 0) + (0, 1) + (1, 1))
    assert grad_b == -1.0                                # -sum_M t
    assert classic.perceptron_criterion(jnp.array([-3.0, 1.0]), 2.5, x, t) == 0.0  # separates


def test_the_perceptron_rule_is_gradient_descent_on_the_criterion():
    problem = classic.separable_blobs(jax.random.key(2), 10, separation=1.0)
    grad = jax.jit(jax.grad(classic.perceptron_criterion, argnums=(0, 1)))
    w, b, lr = jnp.zeros(2), jnp.float32(0.0), 0.5
    for xi, ti in zip(problem.x, problem.y):  # one epoch of SGD on the per-example criterion
        gw, gb = grad(w, b, xi[None], ti[None])
        w, b = w - lr * gw, b - lr * gb
    fit = classic.perceptron(problem.x, problem.y, lr=lr, max_epochs=1)
    assert int(fit.errors[0]) > 1
    np.testing.assert_allclose(fit.weights, w, rtol=1e-6)
    np.testing.assert_allclose(fit.bias, b, rtol=1e-6)


# ------------------------------------------------------------------ the experiment


def test_classic_neurons_experiment_quick(tmp_path):
    from jaxdl.experiments import classic_neurons, registry

    outcome = registry.run_experiment(classic_neurons.EXPERIMENT, jax.random.key(0), quick=True,
                                      out=tmp_path)
    numbers = outcome.verdict.numbers
    assert outcome.verdict.status == "reproduced", numbers["checks"]
    assert numbers["hebb_binary"] == (1, 1, 1) and numbers["hebb_bipolar"] == (2, 2, -2)
    assert numbers["hebb_bipolar_lines"] == ["x2 = -x1 - 1", "x2 = 0", "x2 = -x1 + 1",
                                             "x2 = -x1 + 1"]
    assert numbers["hebb_failure"] == (0, 0, 0, -2)
    assert numbers["failure_wrong"] == [True, False, False, False]
    assert numbers["xor_single_units"] == 0 and numbers["realizable_functions"] == 14
    assert numbers["perceptron_epochs"] == {"AND": 2, "OR": 2, "XOR": 100}
    assert numbers["perceptron_converged"] == {"AND": True, "OR": True, "XOR": False}
    assert numbers["fausett"] == (2, 3, -4)
    assert numbers["blob_converged"] == numbers["blob_separated"] == 100
    assert numbers["blob_within_bound"] == 100
    assert sorted(p.name for p in outcome.files) == [
        "classic_neurons.json", "classic_neurons.md", "classic_neurons.png"]
    text = (tmp_path / "classic_neurons.md").read_text()
    assert "| (-1 -1 1) | -1 | (1 1 -1) | (2 2 -2) | x2 = -x1 + 1 |" in text
    assert "| 0 1 1 0 | 0 | none | 250 |" in text  # the XOR row of the search
