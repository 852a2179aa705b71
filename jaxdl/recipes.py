"""Recipes: an MLP or a small CNN, its optimizer, regularizer and data from one plain config.

`TrainConfig` is the shared vocabulary of the `jaxdl` command, the experiments and the
checkpoints (it is saved as config.json), so a run can be rebuilt from its directory.
Keys: the run's root key is `jax.random.key(seed)`; the data split uses
`fold_in(root, DATA)` and training `fold_in(root, TRAINING)`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import optax

from jaxdl import data, initializers, nn, optim, regularizers
from jaxdl._io import atomic_write
from jaxdl._checks import check_choice, check_positive_int, check_range

DATA, TRAINING = 0, 1
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
SCHEDULES = ("constant", "step", "exponential", "inverse_time", "power", "inverse_sqrt")
DEFAULT_DECAY = {"step": 0.5, "exponential": 0.95, "inverse_time": 0.5, "power": 0.95,
                 "inverse_sqrt": 1.0}
PREPROCESSING = ("center", "standardize", "minmax", "none")
# image datasets (pixels in [0, 1]) default to "center"; the others (tfds:, tabular) to
# "standardize". MNIST, this MLP: standardize 97.04/97.59 % dev/test (a rare pixel's
# |z| up to 402), center 97.82/97.88 %.
IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
ARCHITECTURES = ("mlp", "cnn")
CNN_FEATURES = (32, 64)  # conv 3x3 widths, each followed by a 2x2 max pool


def default_preprocess(dataset: str) -> str:
    """The preprocessing a config uses unless told: "center" for image datasets (zero
    mean, pixel scale kept: "image data usually require 0 centered but does not require
    whitening"), "standardize" for the others."""
    return "center" if dataset in IMAGE_DATASETS else "standardize"


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; validated on construction.

    architecture: "mlp", or "cnn" (conv 32 - pool - conv 64 - pool before the hidden dense
    layers); hidden: hidden (dense) layer widths; keep_prob: dropout keep probability after
    each hidden layer (1 = no dropout), one number for all or one per hidden layer;
    input_keep_prob:
    dropout of the inputs (the tutorial's 0.8 for inputs, 0.5 for hidden units); batchnorm:
    batch norm between each hidden dense and its
    activation; momentum: mu of momentum/nesterov and b1 of adam; schedule: learning-rate
    schedule with `decay` (its factor/rate/constant, see `schedule`) applied every
    `decay_every` epochs; clip_norm: global-norm clipping; ema_decay: evaluate and keep
    the exponential moving average of the weights (`train.fit(ema_decay=)`).
    """

    dataset: str = "digits"
    data_dir: str | None = None
    preprocess: str | None = None  # None: default_preprocess(dataset)
    architecture: str = "mlp"
    hidden: tuple[int, ...] = (128, 64)
    activation: str = "relu"
    init: str = "he_normal"
    keep_prob: float | tuple[float, ...] = 1.0
    input_keep_prob: float = 1.0
    batchnorm: bool = False
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    schedule: str = "constant"
    decay: float | None = None
    decay_every: int = 1
    l2: float = 0.0
    l1: float = 0.0
    clip_norm: float | None = None
    ema_decay: float | None = None
    epochs: int = 30
    batch_size: int = 64
    early_stopping: int | None = None
    seed: int = 0

    def __post_init__(self):
        where = "config"
        object.__setattr__(self, "hidden", tuple(
            check_positive_int(where, "hidden", h) for h in self.hidden))
        if self.preprocess is None:
            object.__setattr__(self, "preprocess", default_preprocess(self.dataset))
        check_choice(where, "preprocess", self.preprocess, PREPROCESSING)
        check_choice(where, "architecture", self.architecture, ARCHITECTURES)
        check_choice(where, "activation", self.activation, tuple(nn.activations.BY_NAME))
        check_choice(where, "init", self.init, tuple(initializers.BY_NAME))
        check_choice(where, "optimizer", self.optimizer, OPTIMIZERS)
        check_choice(where, "schedule", self.schedule, SCHEDULES)
        if isinstance(self.keep_prob, (tuple, list)):
            object.__setattr__(self, "keep_prob", tuple(self.keep_prob))
            if len(self.keep_prob) != len(self.hidden):
                raise ValueError(f"{where}: keep_prob has {len(self.keep_prob)} values for "
                                 f"{len(self.hidden)} hidden layers; give one per layer or "
                                 "one for all")
        for keep in keep_probs(self):
            check_range(where, "keep_prob", keep, low=0.0, high=1.0, low_open=True)
        check_range(where, "input_keep_prob", self.input_keep_prob, low=0.0, high=1.0,
                    low_open=True)
        check_range(where, "lr", self.lr, low=0.0, low_open=True)
        check_range(where, "momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_range(where, "l2", self.l2, low=0.0)
        check_range(where, "l1", self.l1, low=0.0)
        if self.decay is not None:
            check_range(where, "decay", self.decay, low=0.0)
        if self.clip_norm is not None:
            check_range(where, "clip_norm", self.clip_norm, low=0.0, low_open=True)
        if self.ema_decay is not None:
            check_range(where, "ema_decay", self.ema_decay, low=0.0, high=1.0, low_open=True,
                        high_open=True)
        for name in ("decay_every", "epochs", "batch_size"):
            check_positive_int(where, name, getattr(self, name))
        check_positive_int(where, "seed", self.seed, minimum=0)
        if self.early_stopping is not None:
            check_positive_int(where, "early_stopping", self.early_stopping)

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_json(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"config: unknown settings {unknown}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    def save(self, path) -> None:
        """Write the config as JSON atomically (a crash leaves the previous file or none)."""
        with atomic_write(path) as file:
            file.write((json.dumps(self.to_json(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, path) -> "TrainConfig":
        """The config saved at `path`; a missing, unreadable or invalid file raises an
        error naming it."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} "
                                    f"{'is not a file' if path.exists() else 'does not exist'}"
                                    ": not a jaxdl run directory?")
        try:
            values = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            what = "is empty" if not path.stat().st_size else f"is not valid JSON ({error})"
            raise ValueError(f"{path} {what}: not a jaxdl config file") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} holds a JSON {type(values).__name__}, not a jaxdl "
                             "config (an object of settings)")
        try:
            return cls.from_json(values)
        except (ValueError, TypeError) as error:
            raise type(error)(f"{path}: {error}") from None


def keep_probs(config: TrainConfig) -> tuple:
    """The dropout keep probability after each hidden layer."""
    keep = config.keep_prob
    return tuple(keep) if isinstance(keep, tuple) else (keep,) * len(config.hidden)


def _is_one(keep) -> bool:
    """A keep probability known to be 1 (no dropout layer); traced values (sweeps) are not."""
    return isinstance(keep, (int, float)) and keep == 1


def uses_dropout(config: TrainConfig) -> bool:
    """Whether the model has a dropout layer (on the inputs or after a hidden layer)."""
    return not all(map(_is_one, (config.input_keep_prob, *keep_probs(config))))


def keys(config: TrainConfig):
    """(data split key, training key) of the run."""
    root = jax.random.key(config.seed)
    return jax.random.fold_in(root, DATA), jax.random.fold_in(root, TRAINING)


def load_data(config: TrainConfig) -> data.Splits:
    """The dataset split into train/dev/test and preprocessed with train statistics."""
    return load_data_and_stats(config)[0]


def load_data_and_stats(config: TrainConfig):
    """(`load_data(config)`, the preprocessing statistics fitted on its training part;
    None for preprocess "none"), so a run can save them and preprocess new inputs alike
    (`data.PREPROCESSORS[config.preprocess].apply(stats, x)`)."""
    splits = data.load_splits(config.dataset, key=keys(config)[0], data_dir=config.data_dir)
    if config.preprocess == "none":
        return splits, None
    return data.preprocess_splits(splits, config.preprocess)


def model(config: TrainConfig, num_classes: int, *, init_scale=1.0):
    """MLP: flatten -> (dropout) -> [dense -> (batchnorm) -> activation -> (dropout)] per
    hidden -> dense. CNN: (dropout) -> [conv 3x3 -> (batchnorm) -> activation -> max pool 2]
    per CNN_FEATURES -> flatten -> the same dense part.

    Dropout layers where a keep probability (`input_keep_prob`, `keep_probs`) is not 1.
    `init_scale` multiplies the initial weights (zeros stay zeros). A sweep passes a config
    whose numeric fields (keep_prob, lr, ...) and `init_scale` are traced values.
    """
    factory = initializers.get(config.init)
    w_init = factory() if config.init == "zeros" else factory(scale=init_scale)
    cnn = config.architecture == "cnn"
    layers = [] if cnn else [nn.flatten]
    if not _is_one(config.input_keep_prob):
        layers.append(nn.dropout(config.input_keep_prob))
    if cnn:
        for features in CNN_FEATURES:
            layers.append(nn.conv(features, 3, w_init=w_init))
            if config.batchnorm:
                layers.append(nn.batchnorm())
            layers += [nn.activation(config.activation), nn.max_pool(2)]
        layers.append(nn.flatten)
    for width, keep in zip(config.hidden, keep_probs(config)):
        layers.append(nn.dense(width, w_init=w_init))
        if config.batchnorm:
            layers.append(nn.batchnorm())
        layers.append(nn.activation(config.activation))
        if not _is_one(keep):
            layers.append(nn.dropout(keep))
    layers.append(nn.dense(num_classes, w_init=w_init))
    return nn.serial(*layers)


def schedule(config: TrainConfig, steps_per_epoch: int):
    """The learning rate (a float or a schedule of the step count) of `config`.

    With epoch = 0, 1, ...: step: lr * decay^floor(epoch / decay_every); exponential:
    lr * decay^(epoch / decay_every); the course's per-epoch forms count epoch_num from 1
    (optim.schedules): inverse_time: lr / (1 + decay * (floor(epoch / decay_every) + 1));
    power: lr * decay^(epoch + 1); inverse_sqrt: decay * lr / sqrt(epoch + 1).
    """
    lr = config.lr
    decay = DEFAULT_DECAY.get(config.schedule) if config.decay is None else config.decay
    every = config.decay_every * steps_per_epoch
    s = optim.schedules
    return {
        "constant": lambda: lr,
        "step": lambda: s.step_decay(lr, decay, every),
        "exponential": lambda: s.exponential(lr, rate=decay, every=every),
        "inverse_time": lambda: s.inverse_time(lr, decay, steps_per_epoch=every),
        "power": lambda: s.per_epoch_power(lr, decay, steps_per_epoch=steps_per_epoch),
        "inverse_sqrt": lambda: s.inverse_sqrt(lr, decay, steps_per_epoch=steps_per_epoch),
    }[config.schedule]()


def optimizer(config: TrainConfig, steps_per_epoch: int) -> optax.GradientTransformation:
    """The configured optimizer on the configured schedule, after clipping if asked."""
    rate = schedule(config, steps_per_epoch)
    mu = config.momentum
    opt = {"sgd": lambda: optim.sgd(rate),
           "momentum": lambda: optim.momentum(rate, mu),
           "nesterov": lambda: optim.nesterov(rate, mu),
           "adagrad": lambda: optim.adagrad(rate),
           "rmsprop": lambda: optim.rmsprop(rate),
           "adam": lambda: optim.adam(rate, b1=mu),
           }[config.optimizer]()
    if config.clip_norm is not None:
        opt = optax.chain(optim.clip_by_global_norm(config.clip_norm), opt)
    return opt


def regularizer(config: TrainConfig):
    """The configured weight penalty (None when both strengths are 0)."""
    strengths = ((regularizers.l2, config.l2), (regularizers.l1, config.l1))
    parts = [reg(lam) for reg, lam in strengths
             if not (isinstance(lam, (int, float)) and lam == 0)]
    return regularizers.combine(*parts) if parts else None
