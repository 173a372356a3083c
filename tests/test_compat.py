"""The private TF/Keras APIs of memorygan_tf.compat still exist and behave as relied on."""

import tensorflow as tf

from memorygan_tf import compat


def test_mirrored_variable_has_a_per_device_component_with_scatter():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        variable = tf.Variable(tf.zeros([4, 2]), aggregation=tf.VariableAggregation.NONE)
    assert hasattr(variable, "_get_on_device_or_primary"), "tf.distribute dropped _get_on_device_or_primary"

    def write():
        local = compat.local_component(variable)
        local.scatter_nd_update([[1]], [[1.0, 2.0]])
        return tf.constant(0)

    strategy.run(tf.function(write))
    for component in variable.values:
        assert component.numpy()[1].tolist() == [1.0, 2.0]


def test_plain_variable_is_its_own_component():
    variable = tf.Variable(tf.zeros([2]))
    assert compat.local_component(variable) is variable


def test_multi_worker_probe_exists_and_is_false_outside_multi_worker():
    # Without instantiating the strategy (that would set up collectives for the whole test process).
    from tensorflow.python.distribute.collective_all_reduce_strategy import CollectiveAllReduceExtended

    assert hasattr(CollectiveAllReduceExtended, "_in_multi_worker_mode"), \
        "tf.distribute dropped _in_multi_worker_mode"
    assert compat.in_multi_worker_mode() is False
    results = {"loss": tf.constant(1.0)}
    assert compat.fit_outputs(results)["loss"].shape == ()
