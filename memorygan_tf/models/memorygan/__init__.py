"""MemoryGAN (Kim, Kim & Kim, ICLR 2018): its declaration (options.py), the model (gan.py), its memory
layer and EM step (memory.py), its evaluation report (report.py) and figures (figures.py).

Nothing is imported here: options.py is read without TensorFlow (memorygan_tf.models
names the class).
"""
