"""The DCGAN, MemoryGAN's networks with a one-logit head (Table 2's "- Memory"): its
declaration (options.py) and the model (gan.py).

Nothing is imported here: options.py is read without TensorFlow (memorygan_tf.models
names the class).
"""
