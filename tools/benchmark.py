"""Run the benchmarks and write JSON + a markdown summary.

    python tools/benchmark.py --quick            # under a minute, a smoke test (CI runs it)
    python tools/benchmark.py --data_path=../shared/data/fashion_mnist.npz
    python tools/benchmark.py --models --out=docs/benchmark_models.json   # every model's step
    python tools/benchmark.py --image64 --out=benchmarks/results/image64.json  # step and memory at 64x64

A thin wrapper over benchmarks.suite.run_suite (benchmarks/ at the top level: not shipped in the wheel).
"""

import json
import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

FLAGS = flags.FLAGS
flags.DEFINE_boolean("quick", False, "Small, fast subset (smoke test).")
flags.DEFINE_string("out", "benchmarks/results/benchmark.json", "Where to write the JSON results.")
flags.DEFINE_string("markdown", None, "Where to write the markdown summary (default: next to --out).")
flags.DEFINE_string("data_path", None, "Real images for the input-pipeline benchmark (default: generated).")
flags.DEFINE_string("baseline", None, "A checkout of an earlier commit (e.g. `git worktree add /tmp/old <commit>`): "
                    "instead of the suite, time its Fashion-MNIST step against this checkout's, fresh processes "
                    "in rotation (benchmarks.suite.compare_checkouts).")
flags.DEFINE_integer("rounds", 3, "Rounds of the --baseline comparison.")
flags.DEFINE_boolean("image64", False, "Instead of the suite, the cost of 64x64 images: step time (median, "
                     "interleaved), peak memory and parameters of MemoryGAN and the DCGAN on flags/celeba64.flags' "
                     "resnet64 at --image64_batch (benchmarks.suite.image64; --quick: one timed step each).")
flags.DEFINE_integer("image64_batch", 64, "Batch of the --image64 case (the paper's 64).")
flags.DEFINE_boolean("models", False, "Instead of the suite, only every registered model's Fashion-MNIST step, "
                     "interleaved in one process (benchmarks.suite.model_steps; the peer table's step times).")


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from benchmarks import suite as benchmarks

    if FLAGS.baseline:
        if not os.path.isdir(os.path.join(FLAGS.baseline, "memorygan_tf")):
            return cli.fail(f"--baseline: {FLAGS.baseline} is not a checkout of this project (no memorygan_tf/)")
        from memorygan_tf import hardware

        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        results = dict(mode="baseline", machine=hardware.machine_info(), baseline=os.path.abspath(FLAGS.baseline),
                       compare_checkouts=benchmarks.compare_checkouts(
                           os.path.abspath(FLAGS.baseline), here, rounds=FLAGS.rounds, steps=5 if FLAGS.quick else 15,
                           log=lambda m: print(m, flush=True)))
    elif FLAGS.image64:
        from memorygan_tf import hardware

        if FLAGS.image64_batch <= 0:
            return cli.fail(f"--image64_batch: must be positive, got {FLAGS.image64_batch}")
        quick = dict(repeats=1, warmup=1, rss_steps=1) if FLAGS.quick else {}
        results = dict(mode="image64", machine=hardware.machine_info(),
                       image64=benchmarks.image64(batch=FLAGS.image64_batch, **quick))
    elif FLAGS.models:
        from memorygan_tf import hardware

        results = dict(mode="models", machine=hardware.machine_info(),
                       model_steps=benchmarks.model_steps(repeats=3 if FLAGS.quick else 15))
    else:
        results = benchmarks.run_suite(quick=FLAGS.quick, data_path=FLAGS.data_path,
                                       log=lambda m: print(m, flush=True))
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out, "w") as f:
        json.dump(results, f, indent=2)
    md_path = FLAGS.markdown or os.path.splitext(FLAGS.out)[0] + ".md"
    summary = benchmarks.markdown(results)
    with open(md_path, "w") as f:
        f.write(summary)
    print(summary)
    print(f"Wrote {FLAGS.out} and {md_path}")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
