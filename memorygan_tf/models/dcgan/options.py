"""The DCGAN's declaration: no options of its own; its generator reads z alone."""

from __future__ import annotations

from memorygan_tf.options import ModelDeclaration

DECLARATION = ModelDeclaration(
    name="dcgan", model="memorygan_tf.models.dcgan.gan:DCGAN", reads_z_only=lambda m: True,
    summary="dcgan (the plain GAN with the same networks: Table 2's '- Memory')",
)
