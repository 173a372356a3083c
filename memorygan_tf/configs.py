"""Frozen configuration dataclasses and the per-dataset presets of the release.

Configuration flows one way: command-line flags -> :func:`make_config` -> a frozen
:class:`ExperimentConfig` -> constructors. Library code never reads flags.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import typing
from typing import Optional, Tuple

from memorygan_tf.options import (  # noqa: F401 - re-exported
    FIXED, FREE, Choice, ConfigError, ModelDeclaration, Range, check_choice, option)

# Allowed values, declared once: the flags, `validate` and the modules that implement
# them (networks, losses, trainer) all read these; a model's own are in its options.py.
LOSSES = ("jsd", "alternative", "reverse_kl", "none")
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
# The image size of each architecture (its networks: its entry of networks.NETWORKS).
ARCHITECTURES = {(28, 28): "dcgan28", (40, 40): "dcgan40", (32, 32): "resnet32", (64, 64): "resnet64"}
OUTPUT_ACTIVATIONS = ("sigmoid", "tanh")
Z_DISTRIBUTIONS = ("uniform", "normal")
LR_DECAYS = ("none", "linear")
# The registered GANs, --model name -> ModelDeclaration (register_model; memorygan_tf.models
# names the built-in ones); MODELS is their names, in registration order.
DECLARATIONS = {}
MODELS = ()

MIN_EVAL_SAMPLES = 10  # the Inception Score's 10 splits need one image each
PAPER_EVAL_SAMPLES = 64000  # generated images per evaluation in the paper's Table 2
EVAL_SEED = 1234  # seed of the generated images that every evaluation scores
MNIST_EPOCH_STEPS = 60000 // 64  # 937: an epoch of Fashion-MNIST or MNIST at batch 64
MAX_SEED = 2**31  # numpy, Keras and TensorFlow all take seeds below this
# The generator weights a tool may ask for (--weights): the moving average, the trained
# weights, or auto (the average where the model keeps one). See GAN.generator_weights.
GENERATOR_WEIGHTS = ("auto", "ema", "trained")


def belongs_to(field, model_name):
    """Whether a config field applies to `model_name` (generic fields apply to every GAN)."""
    return field.metadata.get("model") in (None, model_name)


def _shape(default):
    """A field that is no flag but sets the shape of checkpointed variables."""
    return dataclasses.field(default=default, metadata=dict(shape=True))


@dataclasses.dataclass(frozen=True)
class GenericModelConfig:
    """The model options every GAN has; ModelConfig adds every registered model's own."""

    image_shape: Tuple[int, int, int] = _shape((28, 28, 1))  # from the data set (or the custom data)
    model: str = option("memorygan", "GAN trained by the harness.", shape=True)  # choices: the registered GANs
    output_activation: str = option("sigmoid", "Generator output / pixel range (sigmoid [0, 1], tanh [-1, 1]).",
                                    OUTPUT_ACTIVATIONS, shape=True)
    architecture: str = option("auto", "Networks (auto: by image size).", ("auto",) + tuple(ARCHITECTURES.values()),
                               shape=True)
    z_dim: int = option(2, "Noise dimension (default: the preset's; 2 for MemoryGAN, whose generator also reads a "
                        "256-d key; 32 for the generators that read z only, as the paper's DCGAN: Z_ONLY_Z_DIM).",
                        shape=True)
    key_dim: int = option(256, "Dimension of the encoder's output: MemoryGAN's memory key / query dimension M, "
                          "the feature size of every other GAN's head.", search=Choice((64, 128, 256)), shape=True)
    f_dim: int = option(64, "Base number of conv filters.", shape=True)
    fc_dim: int = option(1024, "Width of the generator's first dense layer (28x28 nets).", shape=True)
    loss: str = option("jsd", "Generator's GAN loss (none: only --feature_matching).", LOSSES,
                       search=Choice(("jsd", "alternative")))
    z_distribution: str = option("uniform", "Noise prior (uniform U(-1, 1) as the release, or normal).",
                                 Z_DISTRIBUTIONS)
    sync_batch_norm: bool = option(True, "Batch-norm statistics over the global batch under a strategy.")
    bn_epsilon: float = option(1e-5, "Epsilon of every batch norm (Keras's convention; the release's tf.slim batch "
                               "norm uses 1e-3, which weighs on the first steps, when the N(0, 0.02) weights give "
                               "activations of small variance).")
    bn_scale: bool = option(True, "Batch norm's learned scale (gamma; Keras's convention). The release's tf.slim "
                            "batch norm has none (scale=False): --nobn_scale.", shape=True)
    # Training options of the seed papers (README "Training options"); all off by default.
    d_steps: int = option(1, "Discriminator steps per generator step, each on its own real batch and "
                          "writing the memory (Goodfellow et al. 2014, Algorithm 1's k).", search=Choice((1, 2)))
    label_smoothing: float = option(1.0, "Target for real images in the D loss: one-sided label smoothing "
                                    "(Salimans et al. 2016), e.g. 0.9; 1: off.", search=Choice((1.0, 0.9)))
    feature_matching: bool = option(False, "Add feature matching to the generator loss: squared distance "
                                    "of mean encoder features of real and generated batches (Salimans et "
                                    "al. 2016); with --loss=none it is the whole loss.",
                                    search=Choice((False, True)))
    # options that add variables (layers, power-iteration vectors, parameter averages): shape
    minibatch_discrimination: bool = option(False, "Minibatch-discrimination layer at the end of the "
                                            "encoder, before the query / logit head (Salimans et al. 2016).",
                                            search=Choice((False, True)), shape=True)
    historical_averaging: float = option(0.0, "Weight of the penalty on the squared distance of the "
                                         "parameters to their running average (Salimans et al. 2016); 0: off.",
                                         search=Choice((0.0, 1e-4, 1e-3)), shape=True)
    self_modulation: bool = option(False, "Generator batch norms take scale and shift from an MLP of the "
                                   "generator input [z, K_i] (Chen et al. 2019).", search=Choice((False, True)),
                                   shape=True)
    g_ema_decay: float = option(0.999, "Decay of the exponential moving average of the generator's weights "
                                "(Yazici et al. 2019), kept beside the trained ones: evaluation scores both, the "
                                "export serves the average; the decay ramps up as min(d, (1 + t) / (10 + t)) "
                                "over the first steps. 0: off.")
    spectral_norm: bool = option(False, "Spectral normalisation of the encoder's conv and dense kernels "
                                 "(Miyato et al. 2018; keras.layers.SpectralNormalization).",
                                 search=Choice((False, True)), shape=True)


_MODEL_CONFIG_CLASSES = {}  # registered declarations -> their ModelConfig: one class per set of GANs


def _model_config_class():
    """The flat ModelConfig: GenericModelConfig's fields, then every registered model's own
    options under their own names (config.json keeps one flat "model" section), each
    marked with the model it belongs to. The same registrations give the same class (a
    test's GAN registered and unregistered leaves the configs made before it comparable)."""
    key = tuple((name, id(declaration)) for name, declaration in DECLARATIONS.items())
    if key not in _MODEL_CONFIG_CLASSES:
        _MODEL_CONFIG_CLASSES[key] = _make_model_config_class()
    return _MODEL_CONFIG_CLASSES[key]


def _make_model_config_class():
    hints = typing.get_type_hints(GenericModelConfig)
    fields, owner = [], {}
    for f in dataclasses.fields(GenericModelConfig):
        metadata = dict(f.metadata)
        if f.name == "model":
            metadata.update(choices=MODELS, help="GAN trained by the harness: " + ", ".join(
                d.summary or d.name for d in DECLARATIONS.values()) + ".")
        fields.append((f.name, hints[f.name], dataclasses.field(default=f.default, metadata=metadata)))
        owner[f.name] = "every GAN"
    for declaration in DECLARATIONS.values():
        if declaration.options is None:
            continue
        hints = typing.get_type_hints(declaration.options)
        for f in dataclasses.fields(declaration.options):
            if f.name in owner:
                raise ValueError(f"{declaration.name}'s option {f.name} is already declared by {owner[f.name]}")
            owner[f.name] = declaration.name
            metadata = dict(f.metadata, model=declaration.name)
            fields.append((f.name, hints[f.name], dataclasses.field(default=f.default, metadata=metadata)))
    return dataclasses.make_dataclass(
        "ModelConfig", fields, frozen=True,
        namespace=dict(__doc__="Everything that defines the networks, the model's state and the losses: "
                       "the generic options and every registered GAN's own (flat).", __module__=__name__))


ModelConfig = GenericModelConfig  # made by register_model below, once the built-in GANs are declared


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: float = option(2e-4, "Adam learning rate.", resume=FREE, search=Range(5e-5, 1e-3, log=True))
    beta_1: float = option(0.5, "Adam beta_1.", flag="beta1")
    beta_2: float = option(0.999, "Adam beta_2.", flag="beta2")
    adam_epsilon: float = option(1e-7, "Adam's epsilon (Keras's default; the release's tf.train.AdamOptimizer uses "
                                 "1e-8).")
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
                             "0: as stored.", shape=True)
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
    model: ModelConfig = dataclasses.field(default_factory=lambda: ModelConfig())
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)


SECTIONS = {"model": ModelConfig, "optimizer": OptimizerConfig, "train": TrainConfig}

# Where a model's package declares it, for MEMORYGAN_TF_MODELS: modules to import (comma-
# separated) that register more GANs (configs.register_model), e.g. a plugin or a test's.
PLUGINS_ENV = "MEMORYGAN_TF_MODELS"


def register_model(declaration):
    """Registers a GAN (a ModelDeclaration): its name becomes a --model value, its options
    fields (and flags) of ModelConfig. Call it before configs are built or flags defined."""
    global ModelConfig, MODELS
    if not isinstance(declaration, ModelDeclaration):
        raise TypeError(f"expected a ModelDeclaration, got {type(declaration).__name__}")
    DECLARATIONS[declaration.name] = declaration
    MODELS = tuple(DECLARATIONS)
    try:
        ModelConfig = SECTIONS["model"] = _model_config_class()
    except ValueError:  # an option declared twice: the registration is undone
        unregister_model(declaration.name)
        raise
    return declaration


def unregister_model(name):
    """Forgets a GAN registered by register_model (a test's)."""
    global ModelConfig, MODELS
    DECLARATIONS.pop(name, None)
    MODELS = tuple(DECLARATIONS)
    ModelConfig = SECTIONS["model"] = _model_config_class()


def shape_fields():
    """(section, field) of every field that sets the shape of a checkpointed variable: a
    resume never changes them (rundir.resume_config), not even with --override_config."""
    return frozenset((section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
                     if f.metadata.get("shape"))


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


# Each data set's own settings, the release's (REFERENCE.md), that every GAN shares: image
# size and pixel range, the encoder's widths, the generator loss and Adam. What one GAN
# changes of them is its declaration's (ModelDeclaration.preset, .dataset_presets: e.g.
# MemoryGAN's memory sizes and kappa, models/memorygan/options.py). Flags override both.
# One deliberate departure, measured on real Fashion-MNIST (docs/RESULTS.md): the
# non-saturating generator loss ("alternative"), not the release's minimax "jsd": with
# MemoryGAN at kappa = 10 it scored IS 5.3 / FID 18.6 (and helped the plain DCGAN too;
# kappa = 20 tied it). --kappa=1 --loss=jsd (flags/*_paper.flags) gives the paper's setting.
_MNIST_LIKE = dict(
    model=dict(image_shape=(28, 28, 1), key_dim=256, output_activation="sigmoid", loss="alternative"),
    optimizer=dict(learning_rate=2e-4, beta_1=0.5, beta_2=0.999),
)
PRESETS = {
    "fashion_mnist": _MNIST_LIKE,
    "mnist": _MNIST_LIKE,
    "affine_mnist": dict(_MNIST_LIKE, model=dict(_MNIST_LIKE["model"], image_shape=(40, 40, 1))),
    "cifar10": dict(
        model=dict(image_shape=(32, 32, 3), key_dim=512, f_dim=128, output_activation="tanh"),
        optimizer=dict(learning_rate=2e-4, beta_1=0.0, beta_2=0.9, lr_decay="linear"),
    ),
}
DATASETS = tuple(PRESETS) + ("custom",)


# The noise of the generators that read z alone (--model=dcgan, and MemoryGAN's "- Memory"
# and "- MCGN" ablations, which the paper calls equivalent to the DCGAN): the paper's
# DCGAN reads z in R^32 on its 28/40-pixel data ("We use z in R^32 for DCGAN and z in R^2
# for MemoryGAN", appendix). On 32x32 colour data the paper names no size; the original
# DCGAN (Radford et al. 2016) reads 100, so CIFAR10 takes 100. --z_dim overrides.
Z_ONLY_Z_DIM = {"cifar10": 100}
DEFAULT_Z_ONLY_Z_DIM = 32


def preset_of(dataset):
    """The preset `dataset` takes: its own, else (custom images) Fashion-MNIST's."""
    return dataset if dataset in PRESETS else "fashion_mnist"


def model_preset(dataset, model):
    """The model fields `model`'s config takes on `dataset` before any flag: the data set's
    preset, then what the model's declaration changes of every data set's and of this one's."""
    declaration = DECLARATIONS[model]
    key = preset_of(dataset)
    return {**PRESETS[key]["model"], **declaration.preset, **declaration.dataset_presets.get(key, {})}


def preset_fields():
    """{(section, field): whose presets set it, a subset of ("data set", "--model")} for every
    field some preset sets (a data set's, configs.PRESETS, or a model's declaration)."""
    setters = {}
    for preset in PRESETS.values():
        for section, values in preset.items():
            for name in values:
                setters.setdefault((section, name), set()).add("data set")
    for declaration in DECLARATIONS.values():
        for values in (declaration.preset, *declaration.dataset_presets.values()):
            for name in values:
                setters.setdefault(("model", name), set()).add("--model")
    return {key: tuple(sorted(kinds, key=("data set", "--model").index)) for key, kinds in setters.items()}


def make_config(dataset, model_overrides=None, optimizer_overrides=None, train_overrides=None):
    """Builds a validated ExperimentConfig from a dataset preset and overrides.

    Overrides whose value is None are ignored (the flag was not given).
    Raises ConfigError naming the offending flag.
    """
    if dataset not in DATASETS:
        raise ConfigError("dataset", f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    preset = PRESETS[preset_of(dataset)]

    def merge(base, overrides):
        out = dict(base)
        out.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return out

    chosen = (model_overrides or {}).get("model") or preset["model"].get("model", "memorygan")
    if chosen not in DECLARATIONS:
        raise ConfigError("model", f"must be one of {', '.join(MODELS)}, got {chosen!r}")
    fields = merge(model_preset(dataset, chosen), model_overrides)
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


def check_generator_weights(choice):
    """ConfigError naming --weights, one line, unless `choice` is one of GENERATOR_WEIGHTS."""
    if choice not in GENERATOR_WEIGHTS:
        raise ConfigError("weights", f"must be one of {', '.join(GENERATOR_WEIGHTS)}, got {choice!r}")


def steps_per_epoch(config, num_images):
    """Steps in an epoch of `config`'s training: --steps_per_epoch, else one pass over
    `num_images` training images (each step reads d_steps batches); 0 when they are too few
    for one step."""
    t = config.train
    return t.steps_per_epoch or num_images // (t.batch_size * config.model.d_steps)


def reads_z_only(model_config):
    """Whether the configured generator reads noise alone (its declaration says): the DCGAN,
    and MemoryGAN's "- Memory" and "- MCGN" ablations (their default noise is Z_ONLY_Z_DIM's,
    the paper's DCGAN's)."""
    return bool(DECLARATIONS[model_config.model].reads_z_only(model_config))


def uses_memory(model_config):
    """Whether the configured model holds MemoryGAN's memory."""
    return model_config.model == "memorygan" and model_config.use_memory


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
        z_dim=m.z_dim, key_dim=m.key_dim, f_dim=m.f_dim, fc_dim=m.fc_dim, d_steps=m.d_steps, batch_size=t.batch_size,
        epochs=t.epochs, learning_rate=o.learning_rate, keep_checkpoints=t.keep_checkpoints,
        log_every_steps=t.log_every_steps, num_sample_images=t.num_sample_images, bn_epsilon=m.bn_epsilon,
        adam_epsilon=o.adam_epsilon,
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
    if m.model not in DECLARATIONS:
        raise ConfigError("model", f"must be one of {', '.join(MODELS)}, got {m.model!r}")
    for section, name, flag, _, field in flag_fields():
        check_choice(flag, getattr(getattr(config, section), name), field.metadata["choices"])
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
    if not 0.0 <= m.g_ema_decay < 1.0:
        raise ConfigError("g_ema_decay", f"must lie in [0, 1) (0: off), got {m.g_ema_decay}")
    if not 0.0 < m.label_smoothing <= 1.0:
        raise ConfigError("label_smoothing", f"the real target must lie in (0, 1], got {m.label_smoothing}")
    if m.historical_averaging < 0:
        raise ConfigError("historical_averaging", f"the penalty weight must be >= 0, got {m.historical_averaging}")
    if DECLARATIONS[m.model].validate is not None:  # the model's own rules
        DECLARATIONS[m.model].validate(config)
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


def _register_builtin_and_plugins():
    from memorygan_tf import models  # TensorFlow-free: the names of the built-in GANs' declarations

    for module in models.BUILTIN:
        register_model(importlib.import_module(module).DECLARATION)
    for module in filter(None, (m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(","))):
        declaration = getattr(importlib.import_module(module), "DECLARATION", None)
        if declaration is not None and declaration.name not in DECLARATIONS:
            register_model(declaration)


_register_builtin_and_plugins()
