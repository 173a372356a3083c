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


def make_optimizers(optimizer_config, total_steps, adam_class=None, names=("d_optimizer", "g_optimizer")):
    """One Adam per name, by default the D and G optimizers (a model's `optimizer_names`;
    `adam_class`: keras.optimizers.Adam is the benchmark's baseline)."""
    def learning_rate():
        if optimizer_config.lr_decay == "linear":
            return keras.optimizers.schedules.PolynomialDecay(
                optimizer_config.learning_rate, max(1, total_steps), end_learning_rate=0.0, power=1.0
            )
        return optimizer_config.learning_rate

    adam_class = adam_class or FusedAdam

    def adam(name):
        return adam_class(learning_rate(), beta_1=optimizer_config.beta_1, beta_2=optimizer_config.beta_2,
                          epsilon=optimizer_config.adam_epsilon, name=name)

    return tuple(adam(name) for name in names)


def compile_with_adam(model, optimizer_config, total_steps, adam_class=None):
    """Compiles `model` with its Adam optimizers and creates their slots. Readers of a run
    (export, evaluation, figures) do it too: a checkpoint may name a variable only by its
    place in an optimizer's variable list (the shortest path to it), e.g. the layers that
    self-modulation builds lazily, which restore only through the optimizer then."""
    model.compile(*make_optimizers(optimizer_config, total_steps, adam_class, model.optimizer_names),
                  jit_compile=False)
    model.build_optimizers()  # the model places XLA itself (jit_compile above is Keras's)
    return model
