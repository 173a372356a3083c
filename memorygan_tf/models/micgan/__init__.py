"""MIC-GANs (Yin et al. 2021): the model (gan.py) and its Adversarial CRP (crp.py)."""

from memorygan_tf.models.micgan.gan import MICGAN

__all__ = ["MICGAN"]
