#!/usr/bin/env bash
# The study queue of docs/RESULTS.md, in the order that decides most first. Resumable:
# rerun it (e.g. in a new session) and finished jobs are skipped, unfinished ones resume.
#   ROOT=/path/to/study_runs bash tools/study_queue.sh [all|train|score]
# all (default) trains and scores each round in turn. To train while the classifiers are
# still being trained, run `train` in one process and, once they exist, `score` in
# another: `score` only scores rounds whose checkpoint exists (loop it until `train` ends).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/studies}
# The curves' classifier is the wide one (`tools/train_classifier.py --width=32 --epochs=30`,
# 0.9443; train it first, resumable), not the width-16 one run_study would train by itself.
CLASSIFIER=${CLASSIFIER:-$ROOT/classifiers/fashion_mnist_w32}
AFFINE_CLASSIFIER=${AFFINE_CLASSIFIER:-$ROOT/classifiers/affine_mnist}
MNIST_CLASSIFIER=${MNIST_CLASSIFIER:-$ROOT/classifiers/mnist}
PEERS_CLASSIFIER=${PEERS_CLASSIFIER:-$ROOT/classifiers/fashion_mnist}
case "${1:-all}" in
  all) mode=() ;;
  train) mode=(--noevaluate) ;;
  score) mode=(--notrain) ;;
  *) echo "error: mode must be all, train or score, got '$1'" >&2; exit 2 ;;
esac
study() { python tools/run_study.py --root="$ROOT" "${mode[@]}" "$@"; }
# The peers at one epoch (MemoryGAN, DCGAN, InfoGAN; both seeds): cheap, and the peer table
# needs them. The MNIST classifier: width 16, 5 epochs (0.9952); Fashion-MNIST's for the
# peers: width 16, 12 epochs (the Table 2 protocol; the curves use the wider one).
study --classifier="$MNIST_CLASSIFIER" --classifier_epochs=5 --spec=flags/studies/mnist_peers.json
study --classifier="$PEERS_CLASSIFIER" --spec=flags/studies/fashion_mnist_peers.json
# Learning curves (MemoryGAN and the DCGAN, 2 seeds) to epoch 3, then kappa 20 against
# kappa 10 at the same epochs, then the curves to epoch 10, then affine-MNIST's Table 2.
study --classifier="$CLASSIFIER" --classifier_width=32 --classifier_epochs=30 \
  --spec=flags/studies/fashion_mnist_curves.json --max_epochs=3
study --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_kappa.json
study --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_curves.json
study --classifier="$AFFINE_CLASSIFIER" --spec=flags/studies/affine_mnist_table2.json
# The one-epoch tables of earlier sessions, rescored with the current classifier.
study --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_table2.json
study --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_screen.json --max_epochs=1
study --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_options.json
