"""Adam as one fused kernel per variable.

Keras 3's Adam updates each variable with about ten separate element-wise ops
(m += (g - m)(1 - b1), v += (g^2 - v)(1 - b2), var -= alpha m / (sqrt(v) + eps)); on
the generator's 6.4M-weight dense kernel those memory-bound passes cost ~8 % of a
Fashion-MNIST step on 2 CPU cores. TensorFlow's `ResourceApplyAdam` does the same
update, in the same order and with the same bias correction
(alpha = lr sqrt(1 - b2^t) / (1 - b1^t)), in one multi-threaded pass. Its slots are
Keras's own, so checkpoints of either optimizer restore into the other.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def _handle(variable):
    """The resource handle behind a Keras variable (on this device under a strategy:
    inside `strategy.extended.update`, a mirrored variable's handle is the local one)."""
    variable = variable.value if isinstance(variable, keras.Variable) else variable
    return variable.handle


@keras.saving.register_keras_serializable(package="memorygan_tf")
class FusedAdam(keras.optimizers.Adam):
    """keras.optimizers.Adam with its update done by tf.raw_ops.ResourceApplyAdam."""

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]), v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=tf.cast(gradient, dtype), use_locking=False)
