"""What the machine can do: its CPU's instruction sets, whether TensorFlow runs oneDNN,
the precision a run uses on it (`--precision=auto`) and its arithmetic peak.

Every measured number in this project is written beside `machine_info()`; machines
here differ up to 4x per step.
"""

from __future__ import annotations

import os
import platform

import keras
import tensorflow as tf

from memorygan_tf import compat

# Instruction sets that give bfloat16 dot products in hardware (oneDNN uses them).
BF16_INSTRUCTIONS = ("avx512_bf16", "amx_bf16")
FMA_UNITS_PER_CORE = 2  # every AVX2 / AVX-512 server core of the machines here has two FMA pipes


def _cpuinfo_fields(path):
    """The first value of every key of /proc/cpuinfo (Linux), {} where unreadable."""
    fields = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return fields


def _number(text, kind):
    try:
        return kind(text)
    except (TypeError, ValueError):
        return None


def cpu_info(path="/proc/cpuinfo"):
    """(model name, set of CPU flags, clock in MHz or None) from /proc/cpuinfo (Linux)."""
    fields = _cpuinfo_fields(path)
    model = fields.get("model name") or platform.processor() or platform.machine()
    return model, set(fields.get("flags", "").split()), _number(fields.get("cpu MHz"), float)


def cpu_family(path="/proc/cpuinfo"):
    """(vendor_id, cpu family as an int or None) from /proc/cpuinfo (Linux)."""
    fields = _cpuinfo_fields(path)
    return fields.get("vendor_id"), _number(fields.get("cpu family"), int)


def cpu_model_number(path="/proc/cpuinfo"):
    """The CPU's model number within its family (AMD EPYC Zen 4: family 25, model 17), an int
    or None: with the family it names the core generation that "AMD EPYC" alone does not."""
    return _number(_cpuinfo_fields(path).get("model"), int)


def avx512_datapath_bits(vendor, family):
    """Width of the FMA pipes that execute AVX-512: 256 on AMD Zen 4 (family 25, 0x19: it
    splits each 512-bit instruction into two 256-bit halves), 512 elsewhere (Intel server
    cores, AMD Zen 5 server parts, family 26)."""
    return 256 if vendor == "AuthenticAMD" and family == 25 else 512


def resolve_precision(requested, flags=None, onednn=None, gpus=None):
    """The precision a run uses: `requested` itself, or for "auto" mixed_bfloat16 where the
    networks are faster in it (a CPU with bfloat16 dot products, TensorFlow with oneDNN,
    no GPU, float32 variables) and float32 elsewhere. Without oneDNN, TensorFlow's
    bfloat16 CPU kernels are ~7x slower than float32 (docs/PERFORMANCE.md)."""
    if requested != "auto":
        return requested
    if keras.config.floatx() != "float32":  # a float64 run (the replica comparisons) stays as asked
        return "float32"
    flags = cpu_info()[1] if flags is None else flags
    onednn = compat.onednn_enabled() if onednn is None else onednn
    gpus = len(tf.config.list_physical_devices("GPU")) if gpus is None else gpus
    if gpus == 0 and onednn and any(f in flags for f in BF16_INSTRUCTIONS):
        return "mixed_bfloat16"
    return "float32"


def peak_gflops(flags, cores, mhz, avx512_bits=512):
    """The cores' arithmetic peak in GFLOP/s, {float32, bfloat16}, from their instruction sets:
    cores x FMA units x lanes x 2 FLOP x clock. Lanes: 16 float32 with AVX-512 on 512-bit
    pipes (8 where `avx512_bits` is 256: AMD Zen 4), 8 with AVX2 + FMA; bfloat16 dot
    products (AVX512_BF16) do twice the float32 work per instruction. The clock is the
    nominal one /proc/cpuinfo gives (turbo can exceed it); AMX tiles are not counted.
    None where the clock or the instruction sets are unknown."""
    if not mhz:
        return None
    lanes = avx512_bits // 32 if "avx512f" in flags else 8 if {"avx2", "fma"} <= set(flags) else 0
    if not lanes:
        return None
    fp32 = cores * FMA_UNITS_PER_CORE * lanes * 2 * mhz / 1e3
    bf16 = 2 * fp32 if "avx512_bf16" in flags else fp32
    return dict(float32=round(fp32, 1), bfloat16=round(bf16, 1))


def machine_info():
    """CPU model, vector instruction sets, cores, clock, oneDNN on/off, the precision
    `auto` picks and the library versions: written beside every measured number."""
    model, flags, mhz = cpu_info()
    vendor, family = cpu_family()
    vector = sorted(f for f in flags if f.startswith(("avx", "fma", "amx")))
    cores, onednn = os.cpu_count(), compat.onednn_enabled()
    avx512_bits = avx512_datapath_bits(vendor, family) if "avx512f" in flags else None
    return dict(cpu=model, vendor=vendor, cpu_family=family, cpu_model_number=cpu_model_number(),
                instruction_sets=vector, cores=cores, mhz=mhz,
                avx512_datapath_bits=avx512_bits, onednn=onednn, auto_precision=resolve_precision("auto", flags, onednn),
                peak_gflops=peak_gflops(flags, cores, mhz, avx512_bits or 512),
                tensorflow=tf.__version__, keras=keras.__version__)


def available_memory_bytes(path="/proc/meminfo"):
    """Memory the system can give a new process now (MemAvailable), or None if unknown."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def memory_bytes(model_config, batch_size):
    """A lower bound on what the memory costs (float32): its variables (keys N x M, values,
    ages, histogram) and the [2 x batch, N] tensors of a step (similarities, log joint,
    their gradients, the write's weights)."""
    from memorygan_tf import configs

    if not configs.uses_memory(model_config):
        return 0
    n, m = model_config.memory_size, model_config.key_dim
    return 4 * n * (m + 3) + 4 * 4 * n * 2 * batch_size


def check_fits_in_memory(config, available=None):
    """Raises configs.ConfigError (naming --memory_size) where the memory alone cannot fit in
    the memory available now: a clear refusal up front instead of an out-of-memory trace."""
    from memorygan_tf import configs

    available = available_memory_bytes() if available is None else available
    need = memory_bytes(config.model, config.train.batch_size)
    if available is not None and need > available:
        m = config.model
        raise configs.ConfigError(
            "memory_size", f"{m.memory_size} slots of {m.key_dim} dimensions need at least {need / 2**30:.1f} GiB "
            f"(keys and one step's [2 x batch, memory_size] tensors), but {available / 2**30:.1f} GiB are available; "
            f"lower --memory_size or --key_dim")
