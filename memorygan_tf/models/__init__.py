"""The GANs the harness trains, by the name of the --model flag.

Each GAN is one package of this package: its options.py declares it without TensorFlow
(a configs.ModelDeclaration: its options, preset and rules, and where its class is), its
gan.py holds the model (a subclass of base.GAN, whose docstring declares what the harness
may use of it), beside the pieces only it uses (MemoryGAN's memory, MIC-GANs' CRP, its
report and figures). Registering one is one line of BUILTIN below (or, for a plugin,
configs.register_model / the MEMORYGAN_TF_MODELS environment variable). This module
loads no TensorFlow until a model class is asked for.
"""

from __future__ import annotations

import contextlib
import importlib

# The built-in GANs: the module that declares each (configs registers them, in this order).
BUILTIN = (
    "memorygan_tf.models.memorygan.options",
    "memorygan_tf.models.dcgan.options",
    "memorygan_tf.models.infogan.options",
    "memorygan_tf.models.micgan.options",
)

__all__ = ["GAN", "DCGAN", "InfoGAN", "MemoryGAN", "MICGAN", "REGISTRY", "build", "build_compiled", "model_class"]
_CLASSES = {"GAN": "memorygan_tf.models.base:GAN", "DCGAN": "memorygan_tf.models.dcgan.gan:DCGAN",
            "InfoGAN": "memorygan_tf.models.infogan.gan:InfoGAN",
            "MemoryGAN": "memorygan_tf.models.memorygan.gan:MemoryGAN",
            "MICGAN": "memorygan_tf.models.micgan.gan:MICGAN"}


def load(path):
    """The object a "module:attribute" path names (a declaration's model class)."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def __getattr__(name):
    if name in _CLASSES:
        return load(_CLASSES[name])
    if name == "REGISTRY":  # --model name -> class, of every registered GAN
        from memorygan_tf import configs

        return {model: load(declaration.model) for model, declaration in configs.DECLARATIONS.items()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def model_class(model_config):
    """The class `model_config` builds: --model, except that MemoryGAN without a memory
    (--use_memory=false, Table 2's "- Memory" flagfiles) is the DCGAN."""
    from memorygan_tf import configs

    name = model_config.model
    if name == "memorygan" and not model_config.use_memory:
        name = "dcgan"
    if name not in configs.DECLARATIONS:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(configs.MODELS)}")
    return load(configs.DECLARATIONS[name].model)


def build(model_config, seed=0, jit_compile=False, precision="float32"):
    """The model `model_config` names, built."""
    return model_class(model_config)(model_config, seed=seed, jit_compile=jit_compile, precision=precision)


def build_compiled(config, total_steps=1, strategy=None, for_training=False):
    """The model of an ExperimentConfig with its optimizers, created inside `strategy`'s
    scope and fully built: the one way the trainer (`for_training`: XLA as --jit_compile
    says) and every reader of a run (rundir.RunDir.load_model) make a model."""
    from memorygan_tf import hardware, optimizers

    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build(config.model, seed=config.train.seed, jit_compile=for_training and config.train.jit_compile,
                      precision=hardware.resolve_precision(config.train.precision))
        optimizers.compile_with_adam(model, config.optimizer, total_steps)
    return model
