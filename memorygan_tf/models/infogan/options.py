"""InfoGAN's options, preset and rules: its codes and the information term."""

from __future__ import annotations

import dataclasses

from memorygan_tf.options import ConfigError, ModelDeclaration, Range, option


@dataclasses.dataclass(frozen=True)
class InfoGANOptions:
    info_categories: int = option(10, "InfoGAN: values of the categorical code.", shape=True)
    info_continuous: int = option(2, "InfoGAN: continuous codes, U(-1, 1).", shape=True)
    info_lambda: float = option(1.0, "InfoGAN: weight lambda of the information term in both losses.",
                                search=Range(0.1, 2.0, log=True))
    info_continuous_weight: float = option(0.1, "InfoGAN: weight of the continuous codes' Gaussian term "
                                           "within the information term (the paper weights them below 1).")


def validate(config):
    m = config.model
    if m.info_categories < 2:
        raise ConfigError("info_categories", f"the categorical code needs at least 2 values, got {m.info_categories}")
    if m.info_continuous < 0:
        raise ConfigError("info_continuous", f"must be >= 0, got {m.info_continuous}")
    if m.info_lambda < 0 or m.info_continuous_weight < 0:
        raise ConfigError("info_lambda" if m.info_lambda < 0 else "info_continuous_weight", "must be >= 0")


DECLARATION = ModelDeclaration(
    name="infogan", model="memorygan_tf.models.infogan.gan:InfoGAN", options=InfoGANOptions,
    # the paper's 62 noise dimensions (MNIST), not the 2 that MemoryGAN adds to a key
    preset=dict(z_dim=62), validate=validate, summary="infogan (Chen et al. 2016)",
)
