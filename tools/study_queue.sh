#!/usr/bin/env bash
# The study queue of docs/RESULTS.md, in the order that decides most first. Resumable:
# rerun it (e.g. in a new session) and finished jobs are skipped, unfinished ones resume.
#   ROOT=/path/to/study_runs CLASSIFIER=$ROOT/classifiers/fashion_mnist bash tools/study_queue.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/studies}
CLASSIFIER=${CLASSIFIER:-$ROOT/classifiers/fashion_mnist}
study() { python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" "$@"; }
study --spec=flags/studies/fashion_mnist_table2.json --seeds=0
study --spec=flags/studies/fashion_mnist_options.json
study --spec=flags/studies/fashion_mnist_table2.json
study --spec=flags/studies/fashion_mnist_screen.json --max_epochs=1 --runs=release_kappa1,release_kappa10,kappa20,release_kappa10_alternative,kappa20_alternative
