"""Frozen configuration dataclasses and the per-dataset presets of the release.

Configuration flows one way: command-line flags -> :func:`make_config` -> a frozen
:class:`ExperimentConfig` -> constructors. Library code never reads flags.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

LOSSES = ("jsd", "alternative", "reverse_kl")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


class ConfigError(ValueError):
    """A user-facing configuration mistake; `flag` names the offending flag."""

    def __init__(self, flag, message):
        super().__init__(f"--{flag}: {message}")
        self.flag = flag


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that defines the networks, the memory and the losses."""

    image_shape: Tuple[int, int, int] = (28, 28, 1)
    output_activation: str = "sigmoid"  # sigmoid -> pixels in [0, 1]; tanh -> [-1, 1]
    architecture: str = "auto"  # chosen by image size: dcgan28, dcgan40, resnet32
    z_dim: int = 2
    key_dim: int = 256  # M, also the query dimension
    memory_size: int = 4096  # N
    choose_k: int = 128  # k
    alpha: float = 0.5
    beta: float = 1e-8
    kappa: float = 1.0
    eps: float = 1e-3
    update_rule: str = "em"  # em | release | kaiser
    em_iterations: int = 1
    correct_in_top: int = 1
    fill_empty: bool = True  # reset-write into empty slots first (see memory.Memory); False = release
    batch_write: str = "sum"  # sum: EM statistics of a batch summed per slot; last: the release's scatter
    writes_per_step: int = 1  # 1: Algorithm 1 (D step, real + fake); 3: the release (real, fake, G-step fake)
    f_dim: int = 64
    fc_dim: int = 1024
    use_memory: bool = True  # False: the "- Memory" plain DCGAN ablation
    use_mcgn: bool = True  # False: the "- MCGN" ablation (generator reads z only)
    loss: str = "jsd"
    mi_lambda: float = 1e-2
    z_distribution: str = "uniform"  # uniform U(-1, 1) as in the release, or normal
    sync_batch_norm: bool = True  # batch statistics over the global batch under a strategy


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    lr_decay: str = "none"  # none | linear (to zero over the whole run, as for CIFAR10)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    dataset: str = "fashion_mnist"
    data_path: Optional[str] = None
    data_dir: Optional[str] = None
    batch_size: int = 64  # global batch, split over replicas
    epochs: int = 1
    steps_per_epoch: Optional[int] = None  # None: one pass over the training set
    logdir: str = "runs/fashion_mnist"
    seed: int = 0
    strategy: str = "auto"
    deterministic: bool = False
    jit_compile: bool = False
    checkpoint_every_steps: int = 0  # 0: only at the end of each epoch
    keep_checkpoints: int = 3
    log_every_steps: int = 50
    num_sample_images: int = 64


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig()


# The release's hyper-parameters per dataset (REFERENCE.md). Flags override them.
_MNIST_LIKE = dict(
    model=dict(image_shape=(28, 28, 1), z_dim=2, key_dim=256, memory_size=4096,
               choose_k=128, mi_lambda=1e-2, output_activation="sigmoid"),
    optimizer=dict(learning_rate=2e-4, beta_1=0.5, beta_2=0.999),
)
PRESETS = {
    "fashion_mnist": _MNIST_LIKE,
    "mnist": _MNIST_LIKE,
    "affine_mnist": dict(_MNIST_LIKE, model=dict(_MNIST_LIKE["model"], image_shape=(40, 40, 1))),
    "cifar10": dict(
        model=dict(image_shape=(32, 32, 3), z_dim=16, key_dim=512, memory_size=16384,
                   choose_k=256, mi_lambda=2e-6, f_dim=128, output_activation="tanh"),
        optimizer=dict(learning_rate=2e-4, beta_1=0.0, beta_2=0.9, lr_decay="linear"),
    ),
}
DATASETS = tuple(PRESETS) + ("custom",)


def make_config(dataset, model_overrides=None, optimizer_overrides=None, train_overrides=None):
    """Builds a validated ExperimentConfig from a dataset preset and overrides.

    Overrides whose value is None are ignored (the flag was not given).
    Raises ConfigError naming the offending flag.
    """
    if dataset not in DATASETS:
        raise ConfigError("dataset", f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    preset = PRESETS.get(dataset, PRESETS["fashion_mnist"])

    def merge(base, overrides):
        out = dict(base)
        out.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return out

    model = ModelConfig(**merge(preset["model"], model_overrides))
    optimizer = OptimizerConfig(**merge(preset["optimizer"], optimizer_overrides))
    train = TrainConfig(**merge({"dataset": dataset}, train_overrides))
    config = ExperimentConfig(model=model, optimizer=optimizer, train=train)
    validate(config)
    return config


def validate(config, num_replicas=1):
    """Checks values that would otherwise fail deep inside TensorFlow."""
    m, o, t = config.model, config.optimizer, config.train
    positive = dict(
        z_dim=m.z_dim, key_dim=m.key_dim, memory_size=m.memory_size, choose_k=m.choose_k,
        f_dim=m.f_dim, fc_dim=m.fc_dim, em_iterations=m.em_iterations, batch_size=t.batch_size,
        epochs=t.epochs, learning_rate=o.learning_rate, keep_checkpoints=t.keep_checkpoints,
        log_every_steps=t.log_every_steps, num_sample_images=t.num_sample_images,
    )
    for flag, value in positive.items():
        if value is None or value <= 0:
            raise ConfigError(flag, f"must be positive, got {value}")
    if t.steps_per_epoch is not None and t.steps_per_epoch <= 0:
        raise ConfigError("steps_per_epoch", f"must be positive, got {t.steps_per_epoch}")
    if t.checkpoint_every_steps < 0:
        raise ConfigError("checkpoint_every_steps", "must be >= 0")
    if m.choose_k > m.memory_size:
        raise ConfigError("choose_k", f"choose_k ({m.choose_k}) must not exceed memory_size ({m.memory_size})")
    if not 1 <= m.correct_in_top <= m.choose_k:
        raise ConfigError("correct_in_top", "must lie in [1, choose_k]")
    if m.use_memory and m.memory_size < 2 * t.batch_size:
        raise ConfigError(
            "memory_size",
            f"must be at least twice the global batch ({2 * t.batch_size}) so every reset gets its own slot",
        )
    if m.update_rule not in ("em", "release", "kaiser"):
        raise ConfigError("update_rule", f"must be em, release or kaiser, got {m.update_rule!r}")
    if m.batch_write not in ("sum", "last"):
        raise ConfigError("batch_write", f"must be sum or last, got {m.batch_write!r}")
    if m.writes_per_step not in (1, 3):
        raise ConfigError("writes_per_step", f"must be 1 or 3, got {m.writes_per_step}")
    if m.loss not in LOSSES:
        raise ConfigError("loss", f"must be one of {', '.join(LOSSES)}, got {m.loss!r}")
    if m.output_activation not in ("sigmoid", "tanh"):
        raise ConfigError("output_activation", "must be sigmoid or tanh")
    if m.z_distribution not in ("uniform", "normal"):
        raise ConfigError("z_distribution", "must be uniform or normal")
    if m.architecture not in ("auto", "dcgan28", "dcgan40", "resnet32"):
        raise ConfigError("architecture", "must be auto, dcgan28, dcgan40 or resnet32")
    if not 0.0 < m.alpha <= 1.0:
        raise ConfigError("alpha", "must lie in (0, 1]")
    if not 0.0 <= m.eps < 0.5:
        raise ConfigError("eps", "must lie in [0, 0.5)")
    if m.mi_lambda < 0:
        raise ConfigError("mi_lambda", "must be >= 0")
    if not (0.0 <= o.beta_1 < 1.0 and 0.0 <= o.beta_2 < 1.0):
        raise ConfigError("beta1", "Adam betas must lie in [0, 1)")
    if o.lr_decay not in ("none", "linear"):
        raise ConfigError("lr_decay", "must be none or linear")
    if t.strategy not in STRATEGIES:
        raise ConfigError("strategy", f"must be one of {', '.join(STRATEGIES)}")
    if t.batch_size % num_replicas:
        raise ConfigError(
            "batch_size", f"global batch {t.batch_size} is not divisible by the {num_replicas} replicas"
        )
    if t.dataset == "custom" and not t.data_path:
        raise ConfigError("data_path", "--dataset=custom needs --data_path (npz, IDX file or image folder)")
