"""Frozen configuration dataclasses and the per-dataset presets of the release.

Configuration flows one way: command-line flags -> :func:`make_config` -> a frozen
:class:`ExperimentConfig` -> constructors. Library code never reads flags.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Optional, Tuple

# Allowed values, declared once: the flags, `validate` and the modules that implement
# them (memory, networks, losses, trainer) all read these.
LOSSES = ("jsd", "alternative", "reverse_kl", "none")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
UPDATE_RULES = ("em", "release", "kaiser")
BATCH_WRITES = ("sum", "last")
WRITES_PER_STEP = (1, 3)
ARCHITECTURES = {(28, 28): "dcgan28", (40, 40): "dcgan40", (32, 32): "resnet32", (64, 64): "resnet64"}
OUTPUT_ACTIVATIONS = ("sigmoid", "tanh")
Z_DISTRIBUTIONS = ("uniform", "normal")
LR_DECAYS = ("none", "linear")
MODELS = ("memorygan", "dcgan", "infogan", "micgan")  # memorygan_tf.models.REGISTRY builds them

# What a field may do when a run is resumed with a different value (main.py, README):
FIXED = "fixed"  # defines the model, the memory or their semantics: refused unless overridden
FREE = "free"  # applied and recorded (epochs, logging, learning rate, ...)


MIN_EVAL_SAMPLES = 10  # the Inception Score's 10 splits need one image each
PAPER_EVAL_SAMPLES = 64000  # generated images per evaluation in the paper's Table 2
EVAL_SEED = 1234  # seed of the generated images that every evaluation scores
MNIST_EPOCH_STEPS = 60000 // 64  # 937: an epoch of Fashion-MNIST or MNIST at batch 64
MAX_SEED = 2**31  # numpy, Keras and TensorFlow all take seeds below this


class ConfigError(ValueError):
    """A user-facing configuration mistake; `flag` names the offending flag."""

    def __init__(self, flag, message):
        super().__init__(f"--{flag}: {message}")
        self.flag = flag


@dataclasses.dataclass(frozen=True)
class Range:
    """Search space of a numeric field for tools/tune.py: [low, high], log-uniform if `log`."""

    low: float
    high: float
    log: bool = False


@dataclasses.dataclass(frozen=True)
class Choice:
    """Search space of a field for tools/tune.py: one of `values`."""

    values: tuple


def option(default, help, choices=None, flag=None, resume=FIXED, search=None, model=None):  # noqa: A002
    """A config field that is also a command-line flag.

    `help` is the flag's help, `choices` its allowed values (enum flags), `flag` the
    flag's name when it differs from the field's, `resume` FIXED or FREE, `search` its
    hyper-parameter search space (Range or Choice; tools/tune.py searches every field
    that has one and belongs to the tuned model), `model` the one --model the option
    belongs to (None: every GAN). A field declared with plain `dataclasses.field` / a
    default is not a flag.
    """
    return dataclasses.field(default=default, metadata=dict(help=help, choices=choices, flag=flag,
                                                            resume=resume, search=search, model=model))


def _memory(default, help, choices=None, **kwargs):  # noqa: A002
    """An option of MemoryGAN's memory (--model=memorygan only)."""
    return option(default, help, choices, model="memorygan", **kwargs)


def _infogan(default, help, choices=None, **kwargs):  # noqa: A002
    """An option of InfoGAN's codes (--model=infogan only)."""
    return option(default, help, choices, model="infogan", **kwargs)


def _micgan(default, help, choices=None, **kwargs):  # noqa: A002
    """An option of MIC-GANs' modes and Adversarial CRP (--model=micgan only)."""
    return option(default, help, choices, model="micgan", **kwargs)


def belongs_to(field, model_name):
    """Whether a config field applies to `model_name` (generic fields apply to every GAN)."""
    return field.metadata.get("model") in (None, model_name)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Everything that defines the networks, the memory and the losses."""

    image_shape: Tuple[int, int, int] = (28, 28, 1)  # from the data set (or the custom data)
    model: str = option("memorygan", "GAN trained by the harness: memorygan (Kim et al. 2018), dcgan "
                        "(the plain GAN with the same networks: Table 2's '- Memory'), infogan (Chen et al. 2016), "
                        "micgan (MIC-GANs, Yin et al. 2021).",
                        MODELS)
    output_activation: str = option("sigmoid", "Generator output / pixel range (sigmoid [0, 1], tanh [-1, 1]).",
                                    OUTPUT_ACTIVATIONS)
    architecture: str = option("auto", "Networks (auto: by image size).", ("auto",) + tuple(ARCHITECTURES.values()))
    z_dim: int = option(2, "Noise dimension (default: the preset's; 2 for MemoryGAN, whose generator also reads a "
                        "256-d key; 32 for the generators that read z only, as the paper's DCGAN: Z_ONLY_Z_DIM).")
    key_dim: int = _memory(256, "Memory key / query dimension M.", search=Choice((64, 128, 256)))
    memory_size: int = _memory(4096, "Memory slots N.", search=Choice((1024, 2048, 4096, 8192)))
    choose_k: int = _memory(128, "Top-k slots k.", search=Choice((32, 64, 128, 256)))
    alpha: float = _memory(0.5, "Histogram decay of the EM update.", search=Range(0.1, 1.0))
    beta: float = _memory(1e-8, "Prior smoothing constant.")
    prior_temperature: float = _memory(1.0, "Temperature T of the MCGN's slot draw, p(c) ~ (h_c v_c)^(1/T): 1 is "
                                       "the paper's prior, T > 1 flattens it (not in the paper).",
                                       search=Range(1.0, 4.0))
    kappa: float = _memory(1.0, "vMF concentration.", search=Range(1.0, 100.0, log=True))
    eps: float = _memory(1e-3, "Clip of the discriminator output.")
    update_rule: str = _memory("em", "Memory write rule (kaiser = '- EM').", UPDATE_RULES)
    em_iterations: int = _memory(1, "EM iterations T per write.")
    correct_in_top: int = _memory(1, "Reset unless one of the top-n slots has the right label.")
    fill_empty: bool = _memory(True, "Reset-write into empty slots first (False: as the release).")
    batch_write: str = _memory("sum", "How a batch's writes to one slot combine: sum (EM statistics "
                              "summed) or last (the release's scatter).", BATCH_WRITES)
    writes_per_step: int = _memory(1, "Memory writes per iteration: 1 (Algorithm 1) or 3 (the release).",
                                  WRITES_PER_STEP)
    f_dim: int = option(64, "Base number of conv filters.")
    fc_dim: int = option(1024, "Width of the generator's first dense layer (28x28 nets).")
    use_memory: bool = _memory(True, "False: the '- Memory' plain DCGAN ablation.")
    use_mcgn: bool = _memory(True, "False: the '- MCGN' ablation (generator reads z only).")
    loss: str = option("jsd", "Generator's GAN loss (none: only --feature_matching).", LOSSES,
                       search=Choice(("jsd", "alternative")))
    mi_lambda: float = _memory(1e-2, "Weight lambda of the mutual-information term.",
                              search=Range(1e-4, 1e-1, log=True))
    z_distribution: str = option("uniform", "Noise prior (uniform U(-1, 1) as the release, or normal).",
                                 Z_DISTRIBUTIONS)
    sync_batch_norm: bool = option(True, "Batch-norm statistics over the global batch under a strategy.")
    # Training options of the seed papers (README "Training options"); all off by default.
    d_steps: int = option(1, "Discriminator steps per generator step, each on its own real batch and "
                          "writing the memory (Goodfellow et al. 2014, Algorithm 1's k).", search=Choice((1, 2)))
    label_smoothing: float = option(1.0, "Target for real images in the D loss: one-sided label smoothing "
                                    "(Salimans et al. 2016), e.g. 0.9; 1: off.", search=Choice((1.0, 0.9)))
    feature_matching: bool = option(False, "Add feature matching to the generator loss: squared distance "
                                    "of mean encoder features of real and generated batches (Salimans et "
                                    "al. 2016); with --loss=none it is the whole loss.",
                                    search=Choice((False, True)))
    minibatch_discrimination: bool = option(False, "Minibatch-discrimination layer at the end of the "
                                            "encoder, before the query / logit head (Salimans et al. 2016).",
                                            search=Choice((False, True)))
    historical_averaging: float = option(0.0, "Weight of the penalty on the squared distance of the "
                                         "parameters to their running average (Salimans et al. 2016); 0: off.",
                                         search=Choice((0.0, 1e-4, 1e-3)))
    self_modulation: bool = option(False, "Generator batch norms take scale and shift from an MLP of the "
                                   "generator input [z, K_i] (Chen et al. 2019).", search=Choice((False, True)))
    # InfoGAN's codes (--model=infogan; memorygan_tf/models/infogan/).
    info_categories: int = _infogan(10, "InfoGAN: values of the categorical code.")
    info_continuous: int = _infogan(2, "InfoGAN: continuous codes, U(-1, 1).")
    info_lambda: float = _infogan(1.0, "InfoGAN: weight lambda of the information term in both losses.",
                                search=Range(0.1, 2.0, log=True))
    info_continuous_weight: float = _infogan(0.1, "InfoGAN: weight of the continuous codes' Gaussian term "
                                           "within the information term (the paper weights them below 1).")
    # MIC-GANs' modes and Adversarial CRP (--model=micgan; memorygan_tf/models/micgan/).
    micgan_modes: int = _micgan(20, "MIC-GANs: truncation K, the most modes the CRP may use (the paper's "
                                "tables: 20).")
    micgan_init_steps: int = _micgan(937, "MIC-GANs: steps of the initialisation stage (modes drawn "
                                     "uniformly, unconditional D) before the first CRP round.")
    micgan_round_steps: int = _micgan(469, "MIC-GANs: GAN steps between two CRP rounds (the authors: 600k "
                                      "images, 9,375 steps).")
    micgan_encoder_steps: int = _micgan(250, "MIC-GANs: steps (batch --batch_size) that train the mode "
                                        "encoder on generated images before each CRP round (the authors: 1,000).")
    micgan_gibbs_rounds: int = _micgan(3, "MIC-GANs: refits of the Gaussian mixture per CRP round.")
    micgan_gibbs_sweeps: int = _micgan(3, "MIC-GANs: Gibbs sweeps over the labels per refit.")
    micgan_concentration: float = _micgan(0.0, "MIC-GANs: CRP concentration alpha of Eq. 10 (an item may "
                                          "open an empty mode); 0: the authors' rule, existing modes only.")
    micgan_r1: float = _micgan(10.0, "MIC-GANs: weight gamma of the R1 penalty gamma E||grad_x logit(x)||^2 on "
                               "real images from the first CRP round on (the authors' 10; without it the "
                               "generator collapsed to black images in the conditional stage: README); 0: off.")
    micgan_r1_init: bool = _micgan(False, "MIC-GANs: apply the R1 penalty in the initialisation stage too (the "
                                   "authors do; with gamma 10 it held the discriminator at chance there, here).")
    g_ema_decay: float = option(0.999, "Decay of the exponential moving average of the generator's weights "
                                "(Yazici et al. 2019), kept beside the trained ones: evaluation scores both, the "
                                "export serves the average; the decay ramps up as min(d, (1 + t) / (10 + t)) "
                                "over the first steps. 0: off.")
    spectral_norm: bool = option(False, "Spectral normalisation of the encoder's conv and dense kernels "
                                 "(Miyato et al. 2018; keras.layers.SpectralNormalization).",
                                 search=Choice((False, True)))


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: float = option(2e-4, "Adam learning rate.", resume=FREE, search=Range(5e-5, 1e-3, log=True))
    beta_1: float = option(0.5, "Adam beta_1.", flag="beta1")
    beta_2: float = option(0.999, "Adam beta_2.", flag="beta2")
    lr_decay: str = option("none", "Learning-rate schedule (linear: to zero over the whole run).", LR_DECAYS)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    dataset: str = "fashion_mnist"  # a flag of its own (main.py): it chooses the preset
    data_path: Optional[str] = option(
        None, "Local data instead of TFDS: .npz, IDX file (*-ubyte[.gz]) or folder. Default: "
        "<dataset>.npz from $MEMORYGAN_DATA_DIR, ./data or ../shared/data, else TFDS.", resume=FREE)
    data_dir: Optional[str] = option(None, "TensorFlow Datasets data_dir.", resume=FREE)
    image_size: int = option(0, "Train on image_size x image_size images: each image is cut to a centred "
                             "square (--center_crop) and resized (bilinear, antialiased) as it is loaded, so a "
                             "folder may hold images of any sizes. 64 takes resnet64 (CelebA, Chairs); "
                             "0: as stored.")
    center_crop: int = option(0, "Side of the centred square cut from each image before --image_size resizes "
                              "it (e.g. 108 for aligned CelebA faces, DCGAN-tensorflow's recipe). 0: the "
                              "largest centred square when --image_size is set (the release's center_crop), "
                              "else no cut.")
    use_augmentation: bool = option(False, "Random brightness (delta in [-16/255, 16/255]) then contrast "
                                    "(factor in [0.8, 1.2]) of the real images, one draw per batch, then "
                                    "clipped to [0, 1]: the release's --use_augmentation (off as there).")
    batch_size: int = option(64, "Global batch size, split over replicas.")
    epochs: int = option(1, "Training epochs.", resume=FREE)
    steps_per_epoch: Optional[int] = option(None, "Steps per epoch (default: one pass over the data).")
    logdir: str = "runs/fashion_mnist"  # a flag of its own (main.py): default runs/<dataset>
    seed: int = option(0, "Seed of data order, noise and memory sampling.")
    strategy: str = option("auto", "Distribution strategy.", STRATEGIES, resume=FREE)
    deterministic: bool = option(False, "Op determinism (exactly reproducible, slower).", resume=FREE)
    jit_compile: bool = option(False, "Compile the network passes with XLA.", resume=FREE)
    precision: str = option("float32", "Compute precision of the networks (the memory, its EM step, the losses "
                            "and every variable stay float32). auto: mixed_bfloat16 on CPUs with bfloat16 "
                            "dot products (AVX512_BF16, AMX) when TensorFlow runs oneDNN, else float32 (a ~20 % "
                            "shorter step there, but a worse FID after one epoch: not the default).",
                            PRECISIONS, resume=FREE)
    checkpoint_every_steps: int = option(0, "Also checkpoint every N steps (0: only at epoch ends).",
                                         resume=FREE)
    keep_checkpoints: int = option(3, "Checkpoints kept.", resume=FREE)
    log_every_steps: int = option(50, "TensorBoard scalar interval.", resume=FREE)
    num_sample_images: int = option(64, "Images in the sample grid.", resume=FREE)
    eval_every_epochs: int = option(0, "Every N epochs log IS, FID and memory health of --eval_samples "
                                    "generated images to TensorBoard (needs --eval_classifier; 0: off).",
                                    resume=FREE)
    eval_classifier: Optional[str] = option(None, "Folder with classifier.keras (tools/train_classifier.py) "
                                            "for --eval_every_epochs.", resume=FREE)
    eval_samples: int = option(5000, "Generated images per evaluation during training.", resume=FREE)


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig()


SECTIONS = {"model": ModelConfig, "optimizer": OptimizerConfig, "train": TrainConfig}


def flag_fields():
    """(section, field, flag name, python type, metadata) of every field that is a flag."""
    out = []
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            if "help" not in field.metadata:
                continue
            kind = hints[field.name]
            if typing.get_origin(kind) is typing.Union:  # Optional[X]
                kind = next(a for a in typing.get_args(kind) if a is not type(None))
            out.append((section, field.name, field.metadata["flag"] or field.name, kind, field))
    return out


# The release's hyper-parameters per dataset (REFERENCE.md). Flags override them.
# Two deliberate departures, both measured on real Fashion-MNIST (docs/RESULTS.md):
# kappa = 10, not the paper's 1. With unit keys and queries in 256 dimensions, kappa = 1
# lets exp(kappa K.q) vary by at most e^2, so the log prior log h decides the top-k and
# the posterior; the memory collapsed (2 distinct real keys, every test image in one
# slot, IS 2.1 / FID 52.5 after an epoch) while kappa = 10 kept 1,248 distinct real keys
# and scored IS 5.0 / FID 23.2. And the non-saturating generator loss ("alternative"),
# not the release's minimax "jsd": at kappa = 10 it scored IS 5.3 / FID 18.6 (and helped
# the plain DCGAN too; kappa = 20 tied it). --kappa=1 --loss=jsd (flags/*_paper.flags)
# gives the paper's setting.
_MNIST_LIKE = dict(
    model=dict(image_shape=(28, 28, 1), z_dim=2, key_dim=256, memory_size=4096,
               choose_k=128, mi_lambda=1e-2, output_activation="sigmoid", kappa=10.0, loss="alternative"),
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

# What a model changes of the data set's preset (flags still override it): InfoGAN's
# noise is the paper's 62 dimensions (MNIST), not the 2 that MemoryGAN adds to a key;
# MIC-GANs' is the authors' 256 Gaussian dimensions.
MODEL_PRESETS = {"infogan": dict(z_dim=62), "micgan": dict(z_dim=256, z_distribution="normal")}

# The noise of the generators that read z alone (--model=dcgan, and MemoryGAN's "- Memory"
# and "- MCGN" ablations, which the paper calls equivalent to the DCGAN): the paper's
# DCGAN reads z in R^32 on its 28/40-pixel data ("We use z in R^32 for DCGAN and z in R^2
# for MemoryGAN", appendix). On 32x32 colour data the paper names no size; the original
# DCGAN (Radford et al. 2016) reads 100, so CIFAR10 takes 100. --z_dim overrides.
Z_ONLY_Z_DIM = {"cifar10": 100}
DEFAULT_Z_ONLY_Z_DIM = 32


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

    chosen = (model_overrides or {}).get("model") or preset["model"].get("model", "memorygan")
    fields = merge(merge(preset["model"], MODEL_PRESETS.get(chosen)), model_overrides)
    if reads_z_only(ModelConfig(**fields)) and (model_overrides or {}).get("z_dim") is None:
        fields["z_dim"] = Z_ONLY_Z_DIM.get(dataset, DEFAULT_Z_ONLY_Z_DIM)
    side = (train_overrides or {}).get("image_size") or (train_overrides or {}).get("center_crop")
    if side and side > 0 and (model_overrides or {}).get("image_shape") is None:  # resized as loaded
        fields["image_shape"] = (side, side, tuple(fields.get("image_shape", (28, 28, 1)))[2])
    model = ModelConfig(**fields)
    optimizer = OptimizerConfig(**merge(preset["optimizer"], optimizer_overrides))
    train = TrainConfig(**merge({"dataset": dataset}, train_overrides))
    config = ExperimentConfig(model=model, optimizer=optimizer, train=train)
    validate(config)
    return config


def reads_z_only(model_config):
    """Whether the configured generator reads noise alone: the DCGAN, and MemoryGAN's "- Memory"
    and "- MCGN" ablations (their default noise is Z_ONLY_Z_DIM's, the paper's DCGAN's)."""
    return model_config.model == "dcgan" or (
        model_config.model == "memorygan" and not (model_config.use_memory and model_config.use_mcgn))


def uses_memory(model_config):
    """Whether the configured model holds MemoryGAN's memory."""
    return model_config.model == "memorygan" and model_config.use_memory


def _validate_memory(m, t):
    """The memory's own rules (MemoryGAN only)."""
    if m.choose_k > m.memory_size:
        raise ConfigError("choose_k", f"choose_k ({m.choose_k}) must not exceed memory_size ({m.memory_size})")
    if not 1 <= m.correct_in_top <= m.choose_k:
        raise ConfigError("correct_in_top", "must lie in [1, choose_k]")
    if m.memory_size < 2 * t.batch_size:
        raise ConfigError(
            "memory_size",
            f"must be at least twice the global batch ({2 * t.batch_size}) so every reset gets its own slot",
        )
    if m.kappa <= 0:
        raise ConfigError("kappa", f"the vMF concentration must be positive, got {m.kappa}")
    if m.beta < 0:
        raise ConfigError("beta", f"the prior smoothing must be >= 0, got {m.beta}")
    if not 0.0 < m.alpha <= 1.0:
        raise ConfigError("alpha", "must lie in (0, 1]")
    if not 0 < m.prior_temperature < float("inf"):
        raise ConfigError("prior_temperature", f"must be positive and finite, got {m.prior_temperature}")
    if not 0.0 <= m.eps < 0.5:
        raise ConfigError("eps", "must lie in [0, 0.5)")


def with_prior_temperature(config, prior_temperature):
    """`config` whose MCGN draws slots with temperature `prior_temperature` (None: as
    trained). The temperature changes no variable, so a run's checkpoints restore into
    the changed model: a way to sample, and score, a trained MemoryGAN with a flatter
    (T > 1) or sharper (T < 1) prior. Raises ConfigError for a model without
    memory or a temperature the code refuses."""
    if prior_temperature is None:
        return config
    if not uses_memory(config.model) or not config.model.use_mcgn:
        raise ConfigError("prior_temperature", "only a MemoryGAN whose generator reads the memory "
                          "(use_memory and use_mcgn) draws slots from a prior")
    model = dataclasses.replace(config.model, prior_temperature=float(prior_temperature))
    changed = dataclasses.replace(config, model=model)
    validate(changed)
    return changed


def validate(config, num_replicas=1):
    """Checks values that would otherwise fail deep inside TensorFlow."""
    m, o, t = config.model, config.optimizer, config.train
    positive = dict(
        z_dim=m.z_dim, key_dim=m.key_dim, memory_size=m.memory_size, choose_k=m.choose_k,
        f_dim=m.f_dim, fc_dim=m.fc_dim, em_iterations=m.em_iterations, d_steps=m.d_steps, batch_size=t.batch_size,
        epochs=t.epochs, learning_rate=o.learning_rate, keep_checkpoints=t.keep_checkpoints,
        log_every_steps=t.log_every_steps, num_sample_images=t.num_sample_images,
    )
    for flag, value in positive.items():
        if value is None or value <= 0:
            raise ConfigError(flag, f"must be positive, got {value}")
    if not 0 <= t.seed < MAX_SEED:
        raise ConfigError("seed", f"must lie in [0, 2^31), got {t.seed}")
    if t.steps_per_epoch is not None and t.steps_per_epoch <= 0:
        raise ConfigError("steps_per_epoch", f"must be positive, got {t.steps_per_epoch}")
    if t.checkpoint_every_steps < 0:
        raise ConfigError("checkpoint_every_steps", "must be >= 0")
    if uses_memory(m):
        _validate_memory(m, t)
    for section, name, flag, _, field in flag_fields():
        choices = field.metadata["choices"]
        value = getattr(getattr(config, section), name)
        if choices is not None and value not in choices:
            raise ConfigError(flag, f"must be one of {', '.join(map(str, choices))}, got {value!r}")
    for section, name, flag, kind, _ in flag_fields():
        value = getattr(getattr(config, section), name)
        if kind is float and value is not None and not math.isfinite(value):
            raise ConfigError(flag, f"must be a finite number, got {value}")
    for flag in ("image_size", "center_crop"):
        if getattr(t, flag) < 0:
            raise ConfigError(flag, f"must be >= 0 (0: off), got {getattr(t, flag)}")
    side, flag = (t.image_size, "image_size") if t.image_size else (t.center_crop, "center_crop")
    if side and (side, side) not in ARCHITECTURES:
        raise ConfigError(flag, f"networks exist for {', '.join(str(h) for h, w in sorted(ARCHITECTURES) if h == w)} "
                          f"pixels, not {side}")
    size = tuple(m.image_shape[:2])
    if m.architecture == "auto" and size not in ARCHITECTURES:
        raise ConfigError("data_path" if t.dataset == "custom" else "dataset",
                          f"images are {size[0]}x{size[1]}; networks exist for "
                          + ", ".join(f"{h}x{w} ({name})" for (h, w), name in ARCHITECTURES.items()))
    if m.architecture != "auto" and ARCHITECTURES.get(size) != m.architecture:
        expected = {name: shape for shape, name in ARCHITECTURES.items()}[m.architecture]
        raise ConfigError("architecture", f"{m.architecture} takes {expected[0]}x{expected[1]} images, "
                          f"the data are {size[0]}x{size[1]}")
    if m.mi_lambda < 0:
        raise ConfigError("mi_lambda", "must be >= 0")
    if not 0.0 <= m.g_ema_decay < 1.0:
        raise ConfigError("g_ema_decay", f"must lie in [0, 1) (0: off), got {m.g_ema_decay}")
    if not 0.0 < m.label_smoothing <= 1.0:
        raise ConfigError("label_smoothing", f"the real target must lie in (0, 1], got {m.label_smoothing}")
    if m.historical_averaging < 0:
        raise ConfigError("historical_averaging", f"the penalty weight must be >= 0, got {m.historical_averaging}")
    if m.model == "infogan":
        if m.info_categories < 2:
            raise ConfigError("info_categories", f"the categorical code needs at least 2 values, got {m.info_categories}")
        if m.info_continuous < 0:
            raise ConfigError("info_continuous", f"must be >= 0, got {m.info_continuous}")
        if m.info_lambda < 0 or m.info_continuous_weight < 0:
            raise ConfigError("info_lambda" if m.info_lambda < 0 else "info_continuous_weight", "must be >= 0")
    if m.model == "micgan":
        if m.micgan_modes < 2:
            raise ConfigError("micgan_modes", f"the truncation needs at least 2 modes, got {m.micgan_modes}")
        for name in ("micgan_init_steps", "micgan_round_steps", "micgan_encoder_steps", "micgan_gibbs_rounds",
                     "micgan_gibbs_sweeps"):
            if getattr(m, name) < (0 if name == "micgan_init_steps" else 1):
                raise ConfigError(name, f"must be >= {0 if name == 'micgan_init_steps' else 1}, "
                                  f"got {getattr(m, name)}")
        if m.micgan_concentration < 0 or m.micgan_r1 < 0:
            raise ConfigError("micgan_concentration" if m.micgan_concentration < 0 else "micgan_r1", "must be >= 0")
        if m.d_steps != 1:
            raise ConfigError("d_steps", "--model=micgan takes one D step per G step (the real batch's mode "
                              "labels condition both)")
    if m.loss == "none" and not m.feature_matching:
        raise ConfigError("loss", "--loss=none leaves the generator without an objective; add --feature_matching")
    if not (0.0 <= o.beta_1 < 1.0 and 0.0 <= o.beta_2 < 1.0):
        raise ConfigError("beta1", "Adam betas must lie in [0, 1)")
    if t.batch_size % num_replicas:
        raise ConfigError(
            "batch_size", f"global batch {t.batch_size} is not divisible by the {num_replicas} replicas"
        )
    if t.eval_every_epochs < 0:
        raise ConfigError("eval_every_epochs", "must be >= 0")
    if t.eval_every_epochs and not t.eval_classifier:
        raise ConfigError("eval_classifier", "--eval_every_epochs needs --eval_classifier "
                          "(a folder made by tools/train_classifier.py)")
    if t.eval_samples < MIN_EVAL_SAMPLES:
        raise ConfigError("eval_samples", f"must be at least {MIN_EVAL_SAMPLES} (the Inception Score's splits)")
    if t.dataset == "custom" and not t.data_path:
        raise ConfigError("data_path", "--dataset=custom needs --data_path (npz, IDX file or image folder)")
