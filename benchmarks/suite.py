"""Benchmarks: train-step overhead of the memory, memory microbenchmark, input
pipeline, peak RSS and achieved FLOP rate. `tools/benchmark.py` is the CLI.

Timings that are compared are measured in one process, interleaved after warm-up,
and reported as medians and ratios (single timings on shared machines are noise).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from benchmarks import numpy_memory
from memorygan_tf import configs, data, hardware, optimizers, trainer
from memorygan_tf.models.memorygan import memory


# --------------------------------------------------------------- timing
def interleaved(functions, repeats, warmup=2):
    """Median seconds of each function, run in rotation so drift hits all alike."""
    for fn in functions.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _sync(result):
    """Forces the computation to finish (tensors or nested structures of tensors)."""
    for leaf in tf.nest.flatten(result):
        if hasattr(leaf, "numpy"):
            leaf.numpy()
    return result


# ------------------------------------------------------ train-step overhead
def _model_config(dataset, **overrides):
    return configs.make_config(dataset, model_overrides=overrides).model


def _train_function(model_config, batch, jit_compile=False, seed=0, precision="float32", adam_class=None):
    """(model, a function running one compiled train step); `adam_class` replaces the
    trainer's FusedAdam (the speed comparison's baseline)."""
    config = configs.ExperimentConfig(model=model_config, train=configs.TrainConfig(
        batch_size=batch, jit_compile=jit_compile, precision=precision))
    model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=1)
    if adam_class is not None:
        with tf.distribute.get_strategy().scope():
            optimizers.compile_with_adam(model, config.optimizer, 1, adam_class)
    step = tf.function(model.train_step)
    shape = (batch,) + tuple(model_config.image_shape)
    images = tf.random.stateless_uniform(shape, [seed, 1])
    if model_config.output_activation == "tanh":
        images = images * 2.0 - 1.0
    return model, lambda: _sync(step(images))


def train_step_overhead(dataset, batch=64, repeats=10, jit_compile=False):
    """Median step time of MemoryGAN vs the '- Memory' DCGAN, same nets and batch."""
    memgan = _model_config(dataset)
    dcgan = dataclasses.replace(memgan, use_memory=False)
    _, memgan_step = _train_function(memgan, batch, jit_compile)
    _, dcgan_step = _train_function(dcgan, batch, jit_compile)
    times = interleaved({"memorygan": memgan_step, "dcgan": dcgan_step}, repeats)
    return dict(dataset=dataset, batch=batch, jit_compile=jit_compile, repeats=repeats,
                precision="float32",
                memorygan_step_ms=1e3 * times["memorygan"], dcgan_step_ms=1e3 * times["dcgan"],
                ratio=times["memorygan"] / times["dcgan"],
                overhead_pct=100.0 * (times["memorygan"] / times["dcgan"] - 1.0))


def model_steps(dataset="fashion_mnist", batch=64, repeats=10):
    """Median step ms of every registered model (its defaults: the data set's preset and
    its declaration's preset), interleaved in one process, with each one's ratio to the
    DCGAN's. MIC-GANs' step is timed without its CRP rounds (their cost, once per
    `micgan_round_steps`, is printed in its training log), in its initialisation stage
    (`micgan`) and after its first round (`micgan_conditional`: the R1 penalty's input
    gradient and its second-order term, traced in that stage)."""
    functions = {name: _train_function(_model_config(dataset, model=name), batch)[1] for name in configs.MODELS}
    if "micgan" in configs.MODELS:
        micgan, step = _train_function(_model_config(dataset, model="micgan"), batch)
        micgan.crp_round.assign(1)  # before the step is first traced
        functions["micgan_conditional"] = step
    times = interleaved(functions, repeats)
    return [dict(dataset=dataset, model=name, batch=batch, repeats=repeats, step_ms=1e3 * t,
                 ratio_to_dcgan=t / times["dcgan"]) for name, t in times.items()]


def speed_settings(dataset="fashion_mnist", batch=64, repeats=15):
    """Median step ms of MemoryGAN in each speed setting, interleaved in one process:
    the baseline (float32, Keras's Adam: the step as it was before the fused Adam and
    bfloat16), float32 with the fused Adam, and mixed_bfloat16 with it (where the CPU
    has bfloat16 dot products and oneDNN is on), each with its ratio to the baseline."""
    config = _model_config(dataset)
    settings = {"float32 + keras Adam (before)": dict(precision="float32", adam_class=keras.optimizers.Adam),
                "float32 + fused Adam": dict(precision="float32")}
    if hardware.resolve_precision("auto") == "mixed_bfloat16":
        settings["mixed_bfloat16 + fused Adam"] = dict(precision="mixed_bfloat16")
    functions = {name: _train_function(config, batch, **kw)[1] for name, kw in settings.items()}
    times = interleaved(functions, repeats, warmup=3)
    base = times["float32 + keras Adam (before)"]
    return [dict(dataset=dataset, setting=name, step_ms=1e3 * t, ratio_to_before=t / base)
            for name, t in times.items()]


def op_profile(dataset="fashion_mnist", batch=64, steps=10, precision="float32", top=15):
    """The TF profiler's op table of `steps` compiled train steps: summed op time per op
    type (ms per step, over all executor threads, so parts run in parallel add up) and
    its share, the `top` largest first. Reads the profiler's XPlane file with
    TensorFlow's own protobuf (no profiler plugin needed)."""
    import collections
    import glob
    import tempfile

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    _, step = _train_function(_model_config(dataset), batch, precision=precision)
    for _ in range(3):
        step()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            step()
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0], "rb") as f:
            space.ParseFromString(f.read())
    by_type = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                # "<op name>:<op type>"; the executor's own events (ExecutorState::Process,
                # ParallelFor) have no type and enclose the ops, so they are left out.
                if ":" in name and "::" not in name:
                    by_type[name.rsplit(":", 1)[1]] += event.duration_ps
    total = sum(by_type.values())
    return dict(dataset=dataset, precision=precision, steps=steps, op_ms_per_step=total / 1e9 / steps,
                ops=[dict(op=op, ms_per_step=ps / 1e9 / steps, share=ps / total)
                     for op, ps in by_type.most_common(top)])


def step_breakdown(dataset, batch=64, repeats=5):
    """Median ms of the parts of one MemoryGAN train step, each run on its own."""
    config = _model_config(dataset)
    model, full_step = _train_function(config, batch)
    shape = (batch,) + tuple(config.image_shape)
    real = tf.random.stateless_uniform(shape, [0, 2])
    latent = tf.function(lambda: model.local_latent(batch, 0))
    d_part = tf.function(lambda: model.discriminator_gradients(real, latent()))
    grads, _, _, _, plans = d_part()
    write = tf.function(lambda: model.write_memory(*plans))
    g_part = tf.function(lambda: model.generator_gradients(latent()))
    d_apply = tf.function(lambda: model.d_optimizer.apply_gradients(zip(grads, model.discriminator_variables)))
    times = interleaved({
        "full train step": lambda: _sync(full_step()),
        "sample z and slots": lambda: _sync(latent()),
        "D step gradients (G forward, 2 x encoder fwd+bwd, memory read + plan)": lambda: _sync(d_part()),
        "memory write (apply_update)": lambda: _sync(write()),
        "G step gradients (G fwd+bwd, encoder fwd+bwd, memory read)": lambda: _sync(g_part()),
        "one Adam update (D)": lambda: _sync(d_apply()),
    }, repeats)
    return {name: 1e3 * t for name, t in times.items()}


# ----------------------------------------------------- memory microbenchmark
def random_memory_state(size, key_dim, rng):
    keys = rng.standard_normal((size, key_dim), dtype=np.float32)
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    values = (rng.random(size) < 0.5).astype(np.float32)
    hist = rng.uniform(0.1, 2.0, size).astype(np.float32)
    ages = rng.integers(0, 100, size).astype(np.float32)
    return keys, values, hist, ages


def memory_microbenchmark(size, key_dim, choose_k, batch=64, repeats=5, with_numpy=True, seed=0):
    """read + update of one batch vs the floor (one matmul + top_k) and vs NumPy.

    The batch is half real, half fake queries, as in a D step; read and update share
    one similarity pass, as in the train step.
    """
    rng = np.random.default_rng(seed)
    keys, values, hist, ages = random_memory_state(size, key_dim, rng)
    mem = memory.Memory(size, key_dim, choose_k)
    state = (keys, values, ages, hist)
    for var, value in zip((mem.keys, mem.values, mem.ages, mem.histogram), state):
        var.assign(value)
    query = tf.constant(rng.standard_normal((batch, key_dim), dtype=np.float32))
    labels = tf.constant(np.r_[np.ones(batch // 2), np.zeros(batch - batch // 2)].astype(np.float32))

    @tf.function
    def read_update(q, y):  # what the D step does: one similarity pass, read, plan, write
        p, plan = mem.read_and_plan(q, y)
        mem.apply_update(plan)
        return p

    @tf.function
    def floor(q):
        sim = tf.matmul(q, mem.keys, transpose_b=True)
        return tf.math.top_k(sim, k=choose_k)

    @tf.function
    def read_only(q):
        return mem.read(q)

    functions = {"read_update": lambda: _sync(read_update(query, labels)),
                 "floor": lambda: _sync(floor(query)),
                 "read": lambda: _sync(read_only(query))}
    if with_numpy:
        npm = numpy_memory.NumpyMemory(size, key_dim, choose_k)
        npm.keys, npm.values, npm.hist, npm.ages = keys.copy(), values.copy(), hist.copy(), ages.copy()
        q_np, y_np = query.numpy(), labels.numpy()

        def numpy_step():
            _, sim = npm.similarity(q_np)
            npm.read(q_np, sim)
            npm.update(q_np, y_np, sim)

        functions["numpy"] = numpy_step
    times = interleaved(functions, repeats)
    out = dict(size=size, key_dim=key_dim, choose_k=choose_k, batch=batch, repeats=repeats,
               read_update_ms=1e3 * times["read_update"], read_ms=1e3 * times["read"],
               floor_ms=1e3 * times["floor"],
               ratio_to_floor=times["read_update"] / times["floor"])
    if with_numpy:
        out.update(numpy_ms=1e3 * times["numpy"], numpy_ratio_to_floor=times["numpy"] / times["floor"])
    return out


# ---------------------------------------------------------- input pipeline
def input_pipeline(images, batch=64, batches=300):
    """Images per second that make_dataset delivers (after a warm-up)."""
    ds = iter(data.make_dataset(images, batch, seed=0))
    for _ in range(10):
        next(ds)
    start = time.perf_counter()
    for _ in range(batches):
        next(ds).numpy()
    return batches * batch / (time.perf_counter() - start)


# ------------------------------------------------------------------ FLOPs
def train_step_flops(model_config, batch=64):
    """Float operations of one train step, counted by TF's profiler on its graph."""
    model = trainer.build_model(
        configs.ExperimentConfig(model=model_config, train=configs.TrainConfig(batch_size=batch)),
        tf.distribute.get_strategy(), total_steps=1)
    spec = tf.TensorSpec((batch,) + tuple(model_config.image_shape), tf.float32)
    graph = tf.function(model.train_step).get_concrete_function(spec).graph
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def matmul_rate(n=2048, repeats=10, dtype=tf.float32):
    """GFLOP/s of a bare matmul, the machine's practical peak for dense work."""
    a = tf.cast(tf.random.uniform((n, n)), dtype)
    f = tf.function(lambda: tf.matmul(a, a))
    seconds = interleaved({"mm": lambda: _sync(f())}, repeats)["mm"]
    return 2.0 * n**3 / seconds / 1e9


# ---------------------------------------------------------------- peak RSS
_RSS_SCRIPT = r"""
import json, sys
from benchmarks import suite as benchmarks
dataset, use_memory, steps = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
config = benchmarks._model_config(dataset, use_memory=use_memory)
_, step = benchmarks._train_function(config, 64)
for _ in range(steps):
    step()
# VmHWM, not getrusage: Linux carries ru_maxrss over exec() from the parent process.
with open("/proc/self/status") as f:
    peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_mib": peak_kib / 1024}))
"""


def peak_rss(dataset, use_memory, steps=3):
    """Peak resident memory (MiB) of a fresh process that runs a few train steps."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", _RSS_SCRIPT, dataset, "1" if use_memory else "0", str(steps)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]


# ------------------------------------------------------------ 64x64 images
IMAGE64_FLAGFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "flags",
                                "celeba64.flags")


def image64_model_config(flagfile=IMAGE64_FLAGFILE, **overrides):
    """The model of a 64-pixel flagfile (flags/celeba64.flags: resnet64, f_dim 64, M 512,
    N 16,384, ...) on 64x64 colour images: its model flags read as main would."""
    fields = {flag: (name, kind) for section, name, flag, kind, _ in configs.flag_fields() if section == "model"}
    model = {}
    with open(flagfile) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("--"):
                continue
            flag, _, value = line[2:].partition("=")
            if flag in fields:
                name, kind = fields[flag]
                model[name] = (value.lower() in ("", "true", "1")) if kind is bool else kind(value)
    model.update(image_shape=(64, 64, 3), **overrides)
    return configs.make_config("custom", model_overrides=model,
                               train_overrides=dict(data_path=flagfile, image_size=64)).model


_RSS_64_SCRIPT = r"""
import json, sys
from benchmarks import suite as benchmarks
use_memory, batch, steps = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3])
_, step = benchmarks._train_function(benchmarks.image64_model_config(use_memory=use_memory), batch)
for _ in range(steps):
    step()
with open("/proc/self/status") as f:
    peak_kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"peak_rss_mib": peak_kib / 1024}))
"""


def image64(batch=64, repeats=5, warmup=2, rss_steps=3):
    """The cost of 64x64 images (flags/celeba64.flags' networks): median step ms of
    MemoryGAN and the '- Memory' DCGAN on the same resnet64 (interleaved in one process),
    their parameter counts, and the peak resident memory of a fresh process that runs
    `rss_steps` steps of each."""
    memgan = image64_model_config()
    dcgan = dataclasses.replace(memgan, use_memory=False)
    memgan_model, memgan_step = _train_function(memgan, batch)
    dcgan_model, dcgan_step = _train_function(dcgan, batch)
    times = interleaved({"memorygan": memgan_step, "dcgan": dcgan_step}, repeats, warmup=warmup)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    rss = {}
    for name, use_memory in (("memorygan", True), ("dcgan", False)):
        out = subprocess.run([sys.executable, "-c", _RSS_64_SCRIPT, "1" if use_memory else "0", str(batch),
                              str(rss_steps)], env=env, capture_output=True, text=True, check=True)
        rss[name] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    out = []
    for name, model in (("memorygan", memgan_model), ("dcgan", dcgan_model)):
        out.append(dict(model=name, image_size=64, architecture="resnet64", f_dim=memgan.f_dim, batch=batch,
                        repeats=repeats, step_ms=1e3 * times[name], images_per_s=batch / times[name],
                        ratio_to_dcgan=times[name] / times["dcgan"], peak_rss_mib=rss[name],
                        encoder_params=model.encoder.count_params(), generator_params=model.generator.count_params()))
    return out


def _image64_lines(entries):
    lines = ["## 64x64 images (flags/celeba64.flags' resnet64; median step, interleaved; peak RSS of a fresh process)",
             "", "| model | batch | step ms | images/s | ratio to DCGAN | peak RSS MiB | encoder params | "
             "generator params |", "|---|---|---|---|---|---|---|---|"]
    return lines + [f"| {e['model']} | {e['batch']} | {e['step_ms']:.0f} | {e['images_per_s']:.1f} | "
                    f"{e['ratio_to_dcgan']:.3f} | {e['peak_rss_mib']:.0f} | {e['encoder_params']:,} | "
                    f"{e['generator_params']:,} |" for e in entries]


# ------------------------------------------------------- replica scaling
_SCALING_SCRIPT = r"""
import json, sys, time
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from memorygan_tf import configs, trainer
steps = int(sys.argv[1])
config = configs.make_config("fashion_mnist", train_overrides=dict(batch_size=64))
images = np.random.default_rng(0).random((64 * (steps + 3), 28, 28, 1)).astype("float32")
out = {}
for name, strategy in (("one_device", tf.distribute.OneDeviceStrategy("/cpu:0")),
                       ("mirrored_two_logical_cpus", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))):
    model = trainer.build_model(config, strategy, total_steps=1)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(64, drop_remainder=True).repeat()
    model.fit(ds, epochs=1, steps_per_epoch=3, verbose=0, shuffle=False)  # warm-up and tracing
    start = time.perf_counter()
    model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    out[name] = steps / (time.perf_counter() - start)
print(json.dumps(out))
"""


def replica_scaling(steps=10):
    """Train steps/s of the fashion_mnist model on one device vs MirroredStrategy over two
    logical CPUs of this machine (same global batch 64). Logical CPUs share the cores, so
    this measures the cost of the distributed machinery, not a speed-up."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    out = subprocess.run([sys.executable, "-c", _SCALING_SCRIPT, str(steps)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------- checkouts compared
_CHECKOUT_STEP_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
import tensorflow as tf
from memorygan_tf import configs, trainer
use_memory, steps = sys.argv[1] == "1", int(sys.argv[2])
train_overrides = dict(batch_size=64)
if len(sys.argv) > 3:  # only passed to the current checkout (older ones had no precision option)
    train_overrides["precision"] = sys.argv[3]
config = configs.make_config("fashion_mnist", model_overrides=dict(use_memory=use_memory),
                             train_overrides=train_overrides)
model = trainer.build_model(config, tf.distribute.get_strategy(), total_steps=1)
step = tf.function(model.train_step)
images = tf.random.stateless_uniform((64, 28, 28, 1), [0, 1]) * 2.0 - 1.0
for _ in range(3):
    tf.nest.map_structure(lambda t: t.numpy(), step(images))
times = []
for _ in range(steps):
    start = time.perf_counter()
    tf.nest.map_structure(lambda t: t.numpy(), step(images))
    times.append(time.perf_counter() - start)
print(json.dumps({"step_ms": 1e3 * statistics.median(times)}))
"""


def _env_with_onednn(root, onednn):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if onednn is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = "1" if onednn else "0"
    return env


def compare_checkouts(baseline_root, current_root, rounds=3, steps=15, log=print):
    """The Fashion-MNIST step of two checkouts of this project side by side: each setting
    runs in a fresh process (oneDNN is decided when TensorFlow loads, and the two trees
    share module names), settings in rotation for `rounds` rounds, median of `steps`
    steps after warm-up in each process, the median over rounds reported.

    Settings: the baseline as a user ran it (TensorFlow's own oneDNN default, which is
    off on AMD AVX2 CPUs and on on AVX-512 ones), the current code as its entry points
    run it (oneDNN on), the current code with oneDNN forced off (what the code changes
    alone give where TensorFlow leaves it off) and the current DCGAN with oneDNN on (the
    memory's overhead); on CPUs where `--precision=auto` picks mixed_bfloat16, that
    setting and its DCGAN too. Returns a list of dicts with each setting's ratio to the
    baseline.
    """
    settings = {
        "before (baseline checkout, TensorFlow's oneDNN default)": (baseline_root, None, True, None),
        "after (this checkout, oneDNN on as the entry points set it)": (current_root, True, True, None),
        "after, oneDNN forced off": (current_root, False, True, None),
        "after, DCGAN (- Memory), oneDNN on": (current_root, True, False, None),
    }
    if hardware.resolve_precision("auto") == "mixed_bfloat16":
        settings["after, mixed_bfloat16 (--precision=auto here), oneDNN on"] = (
            current_root, True, True, "mixed_bfloat16")
        settings["after, mixed_bfloat16, DCGAN (- Memory), oneDNN on"] = (
            current_root, True, False, "mixed_bfloat16")
    times = {name: [] for name in settings}
    for r in range(rounds):
        for name, (root, onednn, use_memory, precision) in settings.items():
            argv = [sys.executable, "-c", _CHECKOUT_STEP_SCRIPT, "1" if use_memory else "0", str(steps)]
            out = subprocess.run(argv + ([precision] if precision else []), env=_env_with_onednn(root, onednn),
                                 capture_output=True, text=True, check=True, cwd=root)
            times[name].append(json.loads(out.stdout.strip().splitlines()[-1])["step_ms"])
            log(f"round {r + 1}/{rounds}: {name}: {times[name][-1]:.1f} ms")
    base = statistics.median(times[next(iter(settings))])
    return [dict(setting=name, step_ms=statistics.median(t), rounds=t, ratio_to_before=statistics.median(t) / base)
            for name, t in times.items()]


# ------------------------------------------------------------------- suite
def machine():
    return dict(hardware.machine_info(), platform=platform.platform(), cpus=os.cpu_count(), numpy=np.__version__,
                gpus=[d.name for d in tf.config.list_logical_devices("GPU")])


MICRO_FULL = [(n, m, k) for n in (4096, 16384, 65536, 262144) for m in (256, 512) for k in (128, 256)]
MICRO_QUICK = [(4096, 256, 128), (16384, 512, 256)]


def run_suite(quick=False, data_path=None, log=print):
    """Runs everything; returns a JSON-serialisable dict."""
    results = dict(mode="quick" if quick else "full", machine=machine(),
                   started=time.strftime("%Y-%m-%dT%H:%M:%S"))
    repeats = 3 if quick else 15
    datasets = ["fashion_mnist"] if quick else ["fashion_mnist", "cifar10"]

    log("train-step overhead ...")
    results["train_step"] = [train_step_overhead(d, repeats=repeats) for d in datasets]
    if not quick:
        results["train_step_xla"] = [train_step_overhead("fashion_mnist", repeats=repeats, jit_compile=True)]

    log("every model's step ...")
    results["model_steps"] = model_steps(repeats=repeats)

    log("speed settings ...")
    results["speed_settings"] = speed_settings(repeats=repeats)

    log("step breakdown ...")
    results["step_breakdown"] = {d: step_breakdown(d, repeats=3 if quick else 7) for d in datasets}

    if not quick:
        log("op profile ...")
        results["op_profile"] = op_profile()

    log("memory microbenchmark ...")
    shapes = MICRO_QUICK if quick else MICRO_FULL
    results["memory"] = [memory_microbenchmark(n, m, k, repeats=3 if quick else 7,
                                               with_numpy=not quick or n <= 16384) for n, m, k in shapes]

    log("input pipeline ...")
    if data_path:
        images = data.load_images("custom", data_path)
    else:
        images = np.random.default_rng(0).integers(0, 256, (60000, 28, 28, 1), dtype=np.uint8)
    delivered = input_pipeline(images, batches=50 if quick else 300)
    consumed = 64 / (results["train_step"][0]["memorygan_step_ms"] / 1e3)
    results["input_pipeline"] = dict(dataset="fashion_mnist", delivered_images_per_s=delivered,
                                     consumed_images_per_s=consumed, ratio=delivered / consumed)

    log("FLOPs ...")
    rate = matmul_rate(1024 if quick else 2048)
    bf16_rate = (matmul_rate(1024 if quick else 2048, dtype=tf.bfloat16)
                 if results["machine"]["auto_precision"] == "mixed_bfloat16" else None)
    results["flops"] = []
    for entry in results["train_step"]:
        flops = train_step_flops(_model_config(entry["dataset"]))
        achieved = flops / (entry["memorygan_step_ms"] / 1e3) / 1e9
        peak = results["machine"]["peak_gflops"] or {}
        peak = peak.get("bfloat16" if entry["precision"] == "mixed_bfloat16" else "float32")
        results["flops"].append(dict(dataset=entry["dataset"], precision=entry["precision"],
                                     gflop_per_step=flops / 1e9, achieved_gflops=achieved,
                                     matmul_gflops=rate, matmul_gflops_bfloat16=bf16_rate,
                                     fraction_of_matmul_rate=achieved / rate,
                                     peak_gflops=peak, fraction_of_peak=achieved / peak if peak else None))

    log("peak RSS ...")
    results["peak_rss_mib"] = [dict(dataset=d, use_memory=u, peak_rss_mib=peak_rss(d, u))
                               for d in datasets for u in (True, False)]
    if not quick:
        log("64x64 images ...")
        results["image64"] = image64()
        log("replica scaling ...")
        results["replica_scaling_steps_per_s"] = replica_scaling()
    results["targets"] = targets(results)
    return results


def targets(results):
    """The issue's targets, evaluated on this run's numbers."""
    out = {}
    for entry in results["train_step"]:
        out[f"train_step_overhead_{entry['dataset']}_le_5pct"] = entry["overhead_pct"] <= 5.0
    floor_case = [m for m in results["memory"] if (m["size"], m["key_dim"], m["choose_k"]) == (16384, 512, 256)]
    if floor_case:
        out["memory_read_update_le_1_5x_floor_at_16384_512_256"] = floor_case[0]["ratio_to_floor"] <= 1.5
    out["input_pipeline_ge_5x_consumption"] = results["input_pipeline"]["ratio"] >= 5.0
    fastest = min((e["ratio_to_before"] for e in results.get("speed_settings", [])), default=None)
    if fastest is not None:
        out["fashion_mnist_step_le_0_5x_before"] = fastest <= 0.5
    return out


def _model_steps_lines(entries):
    lines = ["## Every model's step (Fashion-MNIST, batch 64, median, interleaved in one process)", "",
             "| model | step ms | ratio to DCGAN |", "|---|---|---|"]
    return lines + [f"| {e['model']} | {e['step_ms']:.1f} | {e['ratio_to_dcgan']:.3f} |" for e in entries]


def _machine_line(m):
    return (f"CPU: {m.get('cpu')}, {m.get('cores')} cores, {m.get('mhz')} MHz, oneDNN "
            f"{'on' if m.get('onednn') else 'off'}, instruction sets: {' '.join(m.get('instruction_sets', []))}")


def markdown(results):
    """A human summary of run_suite's (or compare_checkouts', or model_steps') results."""
    if results.get("mode") == "models":
        return "\n".join([_machine_line(results["machine"]), ""] + _model_steps_lines(results["model_steps"])) + "\n"
    if results.get("mode") == "image64":
        return "\n".join([_machine_line(results["machine"]), ""] + _image64_lines(results["image64"])) + "\n"
    if results.get("mode") == "baseline":
        m = results["machine"]
        lines = [f"# Before and after ({results['baseline']} against this checkout)", "",
                 f"CPU: {m.get('cpu')}, {m.get('cores')} cores, instruction sets: "
                 f"{' '.join(m.get('instruction_sets', []))}", "",
                 "| setting | step ms | rounds | ratio to before |", "|---|---|---|---|"]
        lines += [f"| {e['setting']} | {e['step_ms']:.1f} | {', '.join(f'{t:.0f}' for t in e['rounds'])} | "
                  f"{e['ratio_to_before']:.3f} |" for e in results["compare_checkouts"]]
        return "\n".join(lines) + "\n"
    lines = [f"# Benchmark ({results['mode']}, {results['started']})", "",
             f"Machine: {results['machine']['cpus']} CPUs, {results['machine']['platform']}, "
             f"TF {results['machine']['tensorflow']}, Keras {results['machine']['keras']}", "",
             "## Train step: MemoryGAN vs '- Memory' DCGAN (median, interleaved)", "",
             "| config | precision | XLA | MemoryGAN ms | DCGAN ms | ratio | overhead |",
             "|---|---|---|---|---|---|---|"]
    for e in results["train_step"] + results.get("train_step_xla", []):
        lines.append(f"| {e['dataset']} | {e.get('precision', '-')} | {e['jit_compile']} | "
                     f"{e['memorygan_step_ms']:.1f} | {e['dcgan_step_ms']:.1f} | {e['ratio']:.3f} | "
                     f"{e['overhead_pct']:+.1f} % |")
    lines += ["", _machine_line(results["machine"])]
    if results.get("model_steps"):
        lines += [""] + _model_steps_lines(results["model_steps"])
    if results.get("image64"):
        lines += [""] + _image64_lines(results["image64"])
    if results.get("speed_settings"):
        lines += ["", "## Speed settings (MemoryGAN step, median, interleaved in one process)", "",
                  "| setting | step ms | ratio to before |", "|---|---|---|"]
        lines += [f"| {e['setting']} | {e['step_ms']:.1f} | {e['ratio_to_before']:.3f} |"
                  for e in results["speed_settings"]]
    lines += ["", "## Memory read + update, batch 64 (median ms; ratio to one matmul + top_k)", "",
              "| N | M | k | read+update | read | floor | ratio | NumPy | NumPy ratio |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m in results["memory"]:
        numpy_ms = f"{m['numpy_ms']:.1f}" if "numpy_ms" in m else "-"
        numpy_ratio = f"{m['numpy_ratio_to_floor']:.2f}" if "numpy_ratio_to_floor" in m else "-"
        lines.append(f"| {m['size']} | {m['key_dim']} | {m['choose_k']} | {m['read_update_ms']:.2f} | "
                     f"{m['read_ms']:.2f} | {m['floor_ms']:.2f} | {m['ratio_to_floor']:.2f} | {numpy_ms} | "
                     f"{numpy_ratio} |")
    for dataset, parts in results.get("step_breakdown", {}).items():
        lines += ["", f"## Where a {dataset} MemoryGAN step goes (median ms, parts timed alone)", "",
                  "| part | ms |", "|---|---|"] + [f"| {k} | {v:.1f} |" for k, v in parts.items()]
    if results.get("op_profile"):
        prof = results["op_profile"]
        lines += ["", f"## TF profiler op table, {prof['dataset']} step, {prof['precision']} "
                  f"({prof['op_ms_per_step']:.0f} ms of op time per step over all threads)", "",
                  "| op type | ms per step | share |", "|---|---|---|"]
        lines += [f"| {o['op']} | {o['ms_per_step']:.1f} | {100 * o['share']:.1f} % |" for o in prof["ops"]]
    p = results["input_pipeline"]
    lines += ["", "## Input pipeline", "",
              f"delivers {p['delivered_images_per_s']:.0f} images/s, training consumes "
              f"{p['consumed_images_per_s']:.0f} images/s: {p['ratio']:.1f}x", "",
              "## FLOPs", "", "| config | precision | GFLOP/step | achieved GFLOP/s | bare float32 matmul "
              "GFLOP/s | fraction | peak GFLOP/s | fraction of peak |", "|---|---|---|---|---|---|---|---|"]
    for f in results["flops"]:
        peak = f"{f['peak_gflops']:.0f} | {f['fraction_of_peak']:.2f}" if f.get("peak_gflops") else "- | -"
        lines.append(f"| {f['dataset']} | {f.get('precision', '-')} | {f['gflop_per_step']:.1f} | "
                     f"{f['achieved_gflops']:.1f} | {f['matmul_gflops']:.1f} | {f['fraction_of_matmul_rate']:.2f} | "
                     f"{peak} |")
    lines += ["", "## Peak RSS of a training process", "", "| config | memory | peak RSS MiB |", "|---|---|---|"]
    for r in results["peak_rss_mib"]:
        lines.append(f"| {r['dataset']} | {r['use_memory']} | {r['peak_rss_mib']:.0f} |")
    if "replica_scaling_steps_per_s" in results:
        lines += ["", "## One device vs MirroredStrategy on two logical CPUs (steps/s)", ""]
        lines += [f"- {k}: {v:.2f}" for k, v in results["replica_scaling_steps_per_s"].items()]
    lines += ["", "## Targets", ""] + [f"- {k}: {'met' if v else 'MISSED'}" for k, v in results["targets"].items()]
    return "\n".join(lines) + "\n"
