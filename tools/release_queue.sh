#!/usr/bin/env bash
# The side-by-side with the authors' release, after the fair study (tools/fair_queue.sh):
# the release itself (from your own checkout, RELEASE=path) and the project's release
# flags, three seeds, 3 epochs, scored with the fair study's classifier at 20,000 images.
# Ends with the side-by-side report (tools/release_reference.py compare).
# Resumable: finished seeds are skipped (a release run interrupted mid-way starts that seed
# again; it does not resume).
#   ROOT=/path/to/study_runs RELEASE=/path/to/memoryGAN bash tools/release_queue.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/studies}
RELEASE=${RELEASE:?set RELEASE to your checkout of the authors release}
CLASSIFIER=${CLASSIFIER:-$ROOT/classifiers/fashion_mnist_w16}
# The fair study's classifier (ResNet w16, 12 epochs), trained first if it is missing (the
# release's scores need it before the study runner would train it).
if [ ! -f "$CLASSIFIER/classifier.json" ]; then
  python tools/train_classifier.py --dataset=fashion_mnist --width=16 --epochs=12 --out="$CLASSIFIER"
fi
# The release first: its three seeds take a third of the project's (0.15 s a step, one
# process per seed), so what the release does when run is known soonest.
for seed in 0 1 2; do
  out="$ROOT/release/seed_$seed"
  if [ ! -f "$out/scores.json" ]; then
    rm -rf "$out"
    python tools/release_reference.py train --release="$RELEASE" --out="$out" --epochs=3 --seed="$seed" \
      --num_samples=20000
    python tools/release_reference.py report --out="$out" --classifier="$CLASSIFIER"
  fi
done
# The release's seed 0 trained again with the same flags and seed: its run-to-run spread
# (TensorFlow orders its memory's writes as it likes), which a verdict against it must clear.
out="$ROOT/release_repeat/seed_0"
if [ ! -f "$out/scores.json" ]; then
  rm -rf "$out"
  python tools/release_reference.py train --release="$RELEASE" --out="$out" --epochs=3 --seed=0 --num_samples=20000
  python tools/release_reference.py report --out="$out" --classifier="$CLASSIFIER"
fi
# The project's release flags with the real batch written first (--d_write_order's default),
# three seeds. The report's rows release_flags and release_flags_mi were trained by earlier
# code; they are not repeated.
python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_release_side.json \
  --runs=release_flags_bn
# The other order of the release's write race: the generated batch written first.
python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_release_side.json \
  --runs=release_flags_bn_generated_first
# One seed's run-to-run spread on this side: seed 0 of release_flags_bn trained again with the
# same flags (flags/studies/fashion_mnist_release_side_repeat.json); a verdict must clear it.
python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" \
  --spec=flags/studies/fashion_mnist_release_side_repeat.json
# Generated first with the rest of tf.slim's batch norm (no learned scale) and TF1 Adam's
# epsilon: flags/fashion_mnist_release.flags.
python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" --spec=flags/studies/fashion_mnist_release_side.json \
  --runs=release_flags_slim
# The side-by-side: the release, the project's release flags, its default and the DCGAN (z 32)
# of the fair study, a table per epoch and the epoch-3 verdicts, written into this checkout.
python tools/release_reference.py compare --root="$ROOT" --out=docs/results/fashion_mnist_release_side.json
