"""MIC-GANs' options, preset and rules: its modes and the Adversarial CRP."""

from __future__ import annotations

import dataclasses

from memorygan_tf.options import ConfigError, ModelDeclaration, option


@dataclasses.dataclass(frozen=True)
class MICGANOptions:
    micgan_modes: int = option(20, "MIC-GANs: truncation K, the most modes the CRP may use (the paper's "
                               "tables: 20).", shape=True)  # mode embeddings, K + 1 logits, mode encoder, mixture
    micgan_init_steps: int = option(937, "MIC-GANs: steps of the initialisation stage (modes drawn "
                                    "uniformly, unconditional D) before the first CRP round.")
    micgan_round_steps: int = option(469, "MIC-GANs: GAN steps between two CRP rounds (the authors: 600k "
                                     "images, 9,375 steps).")
    micgan_encoder_steps: int = option(250, "MIC-GANs: steps (batch --batch_size) that train the mode "
                                       "encoder on generated images before each CRP round (the authors: 1,000).")
    micgan_gibbs_rounds: int = option(3, "MIC-GANs: refits of the Gaussian mixture per CRP round.")
    micgan_gibbs_sweeps: int = option(3, "MIC-GANs: Gibbs sweeps over the labels per refit.")
    micgan_concentration: float = option(0.0, "MIC-GANs: CRP concentration alpha of Eq. 10 (an item may "
                                         "open an empty mode); 0: the authors' rule, existing modes only.")
    micgan_r1: float = option(10.0, "MIC-GANs: weight gamma of the R1 penalty gamma E||grad_x logit(x)||^2 on "
                              "real images from the first CRP round on (the authors' 10; without it the "
                              "generator collapsed to black images in the conditional stage: README); 0: off.")
    micgan_r1_init: bool = option(False, "MIC-GANs: apply the R1 penalty in the initialisation stage too (the "
                                  "authors do; with gamma 10 it held the discriminator at chance there, here).")


def validate(config):
    m = config.model
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


DECLARATION = ModelDeclaration(
    name="micgan", model="memorygan_tf.models.micgan.gan:MICGAN", options=MICGANOptions,
    # the authors' 256 Gaussian noise dimensions
    preset=dict(z_dim=256, z_distribution="normal"), validate=validate, summary="micgan (MIC-GANs, Yin et al. 2021)",
)
