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


def cpu_info(path="/proc/cpuinfo"):
    """(model name, set of CPU flags, clock in MHz or None) from /proc/cpuinfo (Linux)."""
    model, flags, mhz = platform.processor() or platform.machine(), set(), None
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags":
                    flags = set(value.split())
                elif key == "cpu MHz" and mhz is None:
                    mhz = float(value)
    except (OSError, ValueError):
        pass
    return model, flags, mhz


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


def peak_gflops(flags, cores, mhz):
    """The cores' arithmetic peak in GFLOP/s, {float32, bfloat16}, from their instruction sets:
    cores x FMA units x lanes x 2 FLOP x clock. Lanes: 16 float32 with AVX-512, 8 with
    AVX2 + FMA; bfloat16 dot products (AVX512_BF16) do twice the float32 work per
    instruction. The clock is the nominal one /proc/cpuinfo gives (turbo can exceed it);
    AMX tiles are not counted. None where the clock or the instruction sets are unknown."""
    if not mhz:
        return None
    lanes = 16 if "avx512f" in flags else 8 if {"avx2", "fma"} <= set(flags) else 0
    if not lanes:
        return None
    fp32 = cores * FMA_UNITS_PER_CORE * lanes * 2 * mhz / 1e3
    bf16 = 2 * fp32 if "avx512_bf16" in flags else fp32
    return dict(float32=round(fp32, 1), bfloat16=round(bf16, 1))


def machine_info():
    """CPU model, vector instruction sets, cores, clock, oneDNN on/off, the precision
    `auto` picks and the library versions: written beside every measured number."""
    model, flags, mhz = cpu_info()
    vector = sorted(f for f in flags if f.startswith(("avx", "fma", "amx")))
    cores, onednn = os.cpu_count(), compat.onednn_enabled()
    return dict(cpu=model, instruction_sets=vector, cores=cores, mhz=mhz, onednn=onednn,
                auto_precision=resolve_precision("auto", flags, onednn), peak_gflops=peak_gflops(flags, cores, mhz),
                tensorflow=tf.__version__, keras=keras.__version__)
