"""Run the benchmarks and write JSON + a markdown summary.

    python tools/benchmark.py --quick            # under a minute, a smoke test (CI runs it)
    python tools/benchmark.py --data_path=../shared/data/fashion_mnist.npz

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


def main(argv):
    del argv
    from memorygan_tf import cli

    cli.quiet_logging(FLAGS.verbosity)  # first: it imports TensorFlow without its start-up lines
    from benchmarks import suite as benchmarks

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
