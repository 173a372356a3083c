"""The GANs the harness trains, by the name of the --model flag.

Each model is one package of this package (a subclass of base.GAN, whose docstring
declares what the harness may use of it, with the pieces only it uses) and one line of
REGISTRY below; its name is
also listed in configs.MODELS, which the flags read before TensorFlow loads (a test
checks the two agree).
"""

from __future__ import annotations

import contextlib

from memorygan_tf.models.base import GAN
from memorygan_tf.models.dcgan import DCGAN
from memorygan_tf.models.infogan import InfoGAN
from memorygan_tf.models.memorygan import MemoryGAN
from memorygan_tf.models.micgan import MICGAN

__all__ = ["GAN", "DCGAN", "InfoGAN", "MemoryGAN", "MICGAN", "REGISTRY", "build", "build_compiled", "model_class"]

REGISTRY = {"memorygan": MemoryGAN, "dcgan": DCGAN, "infogan": InfoGAN, "micgan": MICGAN}


def model_class(model_config):
    """The class `model_config` builds: --model, except that MemoryGAN without a memory
    (--use_memory=false, Table 2's "- Memory" flagfiles) is the DCGAN."""
    name = model_config.model
    if name == "memorygan" and not model_config.use_memory:
        name = "dcgan"
    if name not in REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(REGISTRY)}")
    return REGISTRY[name]


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
