"""MIC-GANs (Yin et al. 2021): its declaration (options.py), the model (gan.py) and its
Adversarial CRP (crp.py).

Nothing is imported here: options.py is read without TensorFlow (memorygan_tf.models
names the class).
"""
