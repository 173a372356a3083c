"""InfoGAN (Chen et al. 2016): its declaration (options.py), the model (gan.py) and its
codes figure (figures.py).

Nothing is imported here: options.py is read without TensorFlow (memorygan_tf.models
names the class).
"""
