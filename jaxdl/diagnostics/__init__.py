"""Is my network learning, and if not, why? The course's diagnostics as library code.

```python
report = diagnostics.check_model_gradients(model, params, state, x, y)   # float64
print(report)            # overall and per-leaf relative errors, worst entries, verdict
monitor = diagnostics.TrainingMonitor(model, loss, x[:256], y[:256], opt=opt)
result = train.fit(..., callbacks=[monitor])      # grad norms, update ratios, ... per epoch
diagnostics.monitor_advice(monitor.latest)        # "lower the learning rate" ...
diagnostics.activation_statistics(initializers.xavier_normal(), "tanh", key=key)
diagnostics.bias_variance(train_error=0.01, dev_error=0.11)       # high variance
diagnostics.diagnose_history(result.history, initial_loss=result.initial_loss)
```

Modules: `gradcheck` (gradient checking), `monitors` (pure per-layer monitors, the `fit`
callback, the activation-statistics experiment), `verdicts` (bias/variance, sanity checks,
loss-curve reading), `sanity` (above chance, gradient signs, centred pre-activations),
`naming` (leaf names such as "1:dense(128)/w"), `backprop` (the lecture's backpropagation
of an MLP by hand, in numpy: a reference for jax.grad).
"""

from jaxdl.diagnostics.backprop import activation_derivative, mlp_backprop
from jaxdl.diagnostics.gradcheck import (BANDS, Entry, GradientCheck, LeafCheck,
                                         check_gradients, check_model_gradients,
                                         model_objective, relative_error, verdict)
from jaxdl.diagnostics.monitors import (HEALTHY_RATIO, ActivationStatistics, TrainingMonitor,
                                        activation_outputs, activation_statistics,
                                        activation_stats, deep_network, gradient_norms,
                                        histogram, layer_outputs, make_probe, monitor_advice,
                                        to_python, update_ratio_advice, update_ratios)
from jaxdl.diagnostics.sanity import (CenteringCheck, ChanceCheck, SignCheck, above_chance,
                                      beats_chance, centering, gradient_signs,
                                      preactivation_centering)
from jaxdl.diagnostics.lr_range import LRRange, lr_range_test
from jaxdl.diagnostics.naming import in_layer_order, leaf_name, named_leaves, natural_key
from jaxdl.diagnostics.verdicts import (BIAS_ADVICE, VARIANCE_ADVICE, BiasVariance,
                                        InitialLossCheck, OverfitCheck, bias_variance,
                                        diagnose_history, initial_loss_check,
                                        overfit_small_subset)

__all__ = [
    "CenteringCheck", "ChanceCheck", "SignCheck", "above_chance", "beats_chance", "centering",
    "gradient_signs", "preactivation_centering",
    "ActivationStatistics", "BANDS", "BIAS_ADVICE", "BiasVariance", "Entry", "GradientCheck",
    "HEALTHY_RATIO", "InitialLossCheck", "LeafCheck", "OverfitCheck", "TrainingMonitor",
    "VARIANCE_ADVICE", "activation_outputs", "activation_statistics", "activation_stats",
    "bias_variance", "check_gradients", "check_model_gradients", "deep_network",
    "diagnose_history", "gradient_norms", "histogram", "in_layer_order", "initial_loss_check",
    "layer_outputs", "leaf_name", "make_probe", "model_objective", "monitor_advice",
    "named_leaves", "natural_key", "overfit_small_subset", "relative_error", "to_python",
    "update_ratio_advice", "update_ratios", "verdict",
    "activation_derivative", "mlp_backprop", "LRRange", "lr_range_test",
]
