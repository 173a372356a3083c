"""MemoryGAN (Kim, Kim & Kim, ICLR 2018): the model (gan.py), its memory layer and EM step
(memory.py), its evaluation report (report.py) and its figures (figures.py)."""

from memorygan_tf.models.memorygan.gan import MemoryGAN

__all__ = ["MemoryGAN"]
