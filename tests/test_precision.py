"""Speed settings that must not change the numbers: bfloat16 networks with a float32 memory,
checkpoints across precisions, the fused Adam against a NumPy Adam, and the hardware probe."""

import numpy as np
import pytest
import tensorflow as tf

from memorygan_tf import configs, hardware, optimizers, trainer
from tests.helpers import TINY_MODEL


def build(precision, **model):
    config = configs.make_config("fashion_mnist", model_overrides=dict(TINY_MODEL, **model),
                                 train_overrides=dict(batch_size=8, precision=precision))
    return trainer.build_model(config, tf.distribute.get_strategy(), total_steps=10)


@pytest.mark.parametrize("use_memory", [True, False])
def test_bfloat16_networks_keep_the_memory_losses_and_variables_in_float32(use_memory):
    model = build("mixed_bfloat16", use_memory=use_memory)
    assert model.encoder.layers[1].compute_dtype == "bfloat16"  # the networks do compute in bf16
    floats = [v for v in model.variables + model.d_optimizer.variables if "int" not in str(v.dtype)]
    assert floats and all(v.dtype == "float32" for v in floats), {v.path: v.dtype for v in floats}
    images = tf.random.stateless_uniform((8, 28, 28, 1), [0, 1])
    assert model.encoder(images).dtype == tf.float32 and model.generator(tf.zeros([2, model.generator.input_shape[-1]])).dtype == tf.float32
    step = tf.function(model.train_step)
    for _ in range(3):
        logs = step(images)
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    if use_memory:
        memory = model.memory
        assert {memory.keys.dtype, memory.histogram.dtype, memory.ages.dtype, memory.values.dtype} == {"float32"}
        q = memory.normalize(model.encoder(images))
        assert q.dtype == tf.float32 and memory.read(q).dtype == tf.float32
        p, plan = memory.read_and_plan(tf.concat([q, q], 0), tf.constant([1.0] * 8 + [0.0] * 8))
        assert plan.scores.dtype == tf.float32 and plan.query.dtype == tf.float32
        norms = np.linalg.norm(memory.keys.numpy(), axis=1)
        written = norms > 0  # slots never written hold zero keys
        assert written.sum() >= 8
        np.testing.assert_allclose(norms[written], 1.0, atol=1e-5)
        assert float(tf.reduce_sum(memory.histogram)) > 0


@pytest.mark.parametrize("written, restored", [("mixed_bfloat16", "float32"), ("float32", "mixed_bfloat16")])
def test_a_checkpoint_restores_in_the_other_precision(tmp_path, written, restored):
    source = build(written)
    step = tf.function(source.train_step)
    step(tf.random.stateless_uniform((8, 28, 28, 1), [0, 2]))
    path = trainer.make_checkpoint(source).write(str(tmp_path / "ckpt"))
    target = build(restored)
    trainer.make_checkpoint(target).read(path).assert_consumed()
    for a, b in zip(source.variables, target.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(source.g_optimizer.variables, target.g_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def numpy_adam(param, grads, lr, beta_1, beta_2, eps):
    """Adam as Kingma & Ba's Algorithm 1 with the 'epsilon hat' form Keras and TF use."""
    m, v = np.zeros_like(param), np.zeros_like(param)
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
        param = param - alpha * m / (np.sqrt(v) + eps)
    return param, m, v


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_adam_equals_numpy_adam_and_keras_adam(dtype):
    import keras

    rng = np.random.default_rng(0)
    start = rng.standard_normal((5, 3)).astype(dtype)
    grads = [rng.standard_normal((5, 3)).astype(dtype) for _ in range(6)]
    # Keras holds the learning rate in a float32 variable: the reference uses that value.
    lr, beta_1, beta_2, eps = float(np.float32(1e-2)), 0.5, 0.999, 1e-7
    expected, m, v = numpy_adam(start.astype(np.float64), [g.astype(np.float64) for g in grads], lr, beta_1, beta_2, eps)
    results = {}
    slots = {}
    for name, cls in (("fused", optimizers.FusedAdam), ("keras", keras.optimizers.Adam)):
        var = keras.Variable(start, dtype=dtype)
        opt = cls(learning_rate=1e-2, beta_1=0.5, beta_2=0.999, epsilon=1e-7)
        apply = tf.function(lambda g: opt.apply_gradients([(g, var)]))
        for g in grads:
            apply(tf.constant(g))
        results[name] = var.numpy()
        slots[name] = (opt._momentums[0].numpy(), opt._velocities[0].numpy())
        # Keras rounds some hyper-parameters to float32 (1 - beta_2: 1.3e-5 relative), so the
        # reference is met to 1e-4; a wrong bias correction or sign is off by > 1e-2.
        tol = 1e-4
        np.testing.assert_allclose(var.numpy(), expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(opt._momentums[0].numpy(), m, rtol=tol, atol=tol)
        np.testing.assert_allclose(opt._velocities[0].numpy(), v, rtol=tol, atol=tol)
    assert not np.allclose(results["fused"], start)  # it moved
    # One formula; in float64 Keras's Adam rounds its hyper-parameters to float32 in places
    # where the fused kernel does not (the fused one is the closer to the reference).
    same = 1e-4 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(results["fused"], results["keras"], rtol=same, atol=same)
    for fused, plain in zip(slots["fused"], slots["keras"]):
        np.testing.assert_allclose(fused, plain, rtol=same, atol=same)


def test_adam_epsilon_reaches_both_optimizers():
    from memorygan_tf import configs

    config = configs.make_config("fashion_mnist", {}, optimizer_overrides=dict(adam_epsilon=1e-8))
    steps = {}
    grad = 1e-6  # sqrt of the first step's v (3e-8) lies between the two epsilons: the step differs by 3x
    for epsilon, optimizer_config in ((1e-7, configs.make_config("fashion_mnist", {}).optimizer),
                                      (1e-8, config.optimizer)):
        for opt in optimizers.make_optimizers(optimizer_config, total_steps=10):
            assert opt.epsilon == pytest.approx(epsilon)
            var = tf.Variable([0.0])
            opt.apply_gradients([(tf.constant([grad]), var)])
            expected, _, _ = numpy_adam(np.zeros(1), [np.array([grad])], float(np.float32(optimizer_config.learning_rate)),
                                        optimizer_config.beta_1, optimizer_config.beta_2, epsilon)
            np.testing.assert_allclose(var.numpy(), expected, rtol=1e-4)
        steps[epsilon] = float(var.numpy()[0])
    assert steps[1e-8] < 2 * steps[1e-7] < 0  # a larger step with the release's smaller epsilon


@pytest.mark.messages
def test_adam_epsilon_must_be_positive():
    from memorygan_tf import configs

    with pytest.raises(configs.ConfigError, match="--adam_epsilon"):
        configs.make_config("fashion_mnist", {}, optimizer_overrides=dict(adam_epsilon=0.0))


def test_auto_precision_follows_the_hardware():
    bf16 = {"avx512f", "avx512_bf16"}
    assert hardware.resolve_precision("auto", flags=bf16, onednn=True, gpus=0) == "mixed_bfloat16"
    assert hardware.resolve_precision("auto", flags={"amx_bf16"}, onednn=True, gpus=0) == "mixed_bfloat16"
    assert hardware.resolve_precision("auto", flags=bf16, onednn=False, gpus=0) == "float32"
    assert hardware.resolve_precision("auto", flags={"avx2", "fma"}, onednn=True, gpus=0) == "float32"
    assert hardware.resolve_precision("auto", flags=bf16, onednn=True, gpus=1) == "float32"
    assert hardware.resolve_precision("float32", flags=bf16, onednn=True, gpus=0) == "float32"


def test_peak_from_instruction_sets_cores_and_clock():
    # 2 cores x 2 FMA units x 16 lanes x 2 FLOP x 2.6 GHz
    assert hardware.peak_gflops({"avx512f", "avx512_bf16"}, 2, 2600) == dict(float32=332.8, bfloat16=665.6)
    assert hardware.peak_gflops({"avx2", "fma"}, 2, 2000) == dict(float32=128.0, bfloat16=128.0)
    assert hardware.peak_gflops({"avx2", "fma"}, 2, None) is None
    # AMD Zen 4 runs AVX-512 on 256-bit pipes: half the lanes per FMA unit
    assert hardware.peak_gflops({"avx512f", "avx512_bf16"}, 2, 2600, avx512_bits=256) == dict(
        float32=166.4, bfloat16=332.8)


def test_avx512_datapath_from_vendor_and_family(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
                    "processor\t: 1\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n")
    assert hardware.cpu_family(str(path)) == ("AuthenticAMD", 25)
    assert hardware.cpu_model_number(str(path)) == 17
    assert hardware.avx512_datapath_bits("AuthenticAMD", 25) == 256  # Zen 4
    assert hardware.avx512_datapath_bits("AuthenticAMD", 26) == 512  # Zen 5
    assert hardware.avx512_datapath_bits("GenuineIntel", 6) == 512
    assert hardware.cpu_family(str(tmp_path / "missing")) == (None, None)
    assert hardware.cpu_model_number(str(tmp_path / "missing")) is None


def test_cpu_info_reads_proc_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Some CPU\ncpu MHz\t\t: 2596.1\nflags\t\t: fpu avx2 fma avx512f\n")
    assert hardware.cpu_info(str(path)) == ("Some CPU", {"fpu", "avx2", "fma", "avx512f"}, 2596.1)
    info = hardware.machine_info()
    assert {"cpu", "instruction_sets", "cores", "onednn", "auto_precision", "peak_gflops"} <= set(info)
