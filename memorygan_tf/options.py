"""How an option is declared, once: its default, help, choices, resume rule, shape and
search space; and how a GAN declares itself to the harness (:class:`ModelDeclaration`).

TensorFlow-free, below configs (which re-exports these names): a model's options.py
imports only this module, so the flags, presets and validation know every registered
GAN before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Optional

# What a field may do when a run is resumed with a different value (main.py, README):
FIXED = "fixed"  # defines the model, the memory or their semantics: refused unless overridden
FREE = "free"  # applied and recorded (epochs, logging, learning rate, ...)


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


def check_choice(flag, value, choices):
    """Raises ConfigError unless `value` is one of `choices` (None: any value)."""
    if choices is not None and value not in choices:
        raise ConfigError(flag, f"must be one of {', '.join(map(str, choices))}, got {value!r}")


def option(default, help, choices=None, flag=None, resume=FIXED, search=None, model=None, shape=False):  # noqa: A002
    """A config field that is also a command-line flag.

    `help` is the flag's help, `choices` its allowed values (enum flags), `flag` the
    flag's name when it differs from the field's, `resume` FIXED or FREE, `shape` True
    when it sets the shape of a checkpointed variable (never changed on resume, not even
    with --override_config), `search` its hyper-parameter search space (Range or Choice;
    tools/tune.py searches every field that has one and belongs to the tuned model),
    `model` the one --model the option belongs to (None: every GAN; a model's own
    options get it from their declaration). A field declared with plain
    `dataclasses.field` / a default is not a flag.
    """
    return dataclasses.field(default=default, metadata=dict(help=help, choices=choices, flag=flag, resume=resume,
                                                            search=search, model=model, shape=shape))


@dataclasses.dataclass(frozen=True)
class ModelDeclaration:
    """Everything the harness knows of one GAN before TensorFlow loads.

    `name`: its --model value. `options`: a frozen dataclass of its own options (fields
    declared with :func:`option`; they join the flat ModelConfig under their own names,
    so config.json stays flat), or None. `preset`: what it changes of every data set's
    preset (configs.PRESETS: the data set's own settings); `dataset_presets`: what it
    changes of one data set's, by data set (after `preset`; custom images take
    Fashion-MNIST's); flags still override both. `validate(config)`: its rules on an
    ExperimentConfig, raising ConfigError. `reads_z_only(model_config)`: whether its
    generator reads noise alone (then the noise defaults to the paper's DCGAN's).
    `model`: "module:Class" of its GAN (imported when the model is built).
    """

    name: str
    model: str
    options: Optional[type] = None
    preset: Mapping = dataclasses.field(default_factory=dict)
    dataset_presets: Mapping = dataclasses.field(default_factory=dict)
    validate: Optional[Callable] = None
    reads_z_only: Callable = lambda model_config: False
    summary: str = ""
