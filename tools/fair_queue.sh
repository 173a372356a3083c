#!/usr/bin/env bash
# The fair-baseline study (flags/studies/fashion_mnist_fair.json), in the order that decides
# most first. Resumable: rerun it (e.g. after an interruption) and finished jobs are skipped,
# unfinished runs continue from their checkpoints.
#   ROOT=/path/to/study_runs bash tools/fair_queue.sh
# STEPS picks steps by name (default: all, in this order); on a machine that did not keep ROOT,
# run only whole studies that fit the time the machine is yours, e.g.
#   ROOT=/path/to/study_runs STEPS="affine_mnist mnist_peers" bash tools/fair_queue.sh
# A study's scores, once committed to docs/results, are not overwritten by a report from a ROOT
# that lacks them (tools/study_report.py refuses), and a new classifier scores on its own scale:
# continue a study only with the classifier that started it.
# Run it from a frozen checkout (git worktree) so that edits to the working tree cannot
# change a study half-way; one training at a time (2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/studies}
# The Fashion-MNIST classifier of the studies: width 16, 12 epochs.
CLASSIFIER=${CLASSIFIER:-$ROOT/classifiers/fashion_mnist_w16}
SPEC=flags/studies/fashion_mnist_fair.json
study() { python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" --classifier_epochs=12 \
  --spec="$SPEC" "$@"; }
ALL_STEPS="headline headline_repeat curves curves_repeat table2 affine_mnist mnist_peers table2_anew kappa5_purity table2_anew_to_10 kappa5_repeat table2_to_10"
STEPS=" ${STEPS:-$ALL_STEPS} "
for name in $STEPS; do
  [[ " $ALL_STEPS " == *" $name "* ]] || { echo "error: STEPS: no step '$name' (steps: $ALL_STEPS)" >&2; exit 2; }
done
step() { [[ "$STEPS" == *" $1 "* ]]; }
# 1. The decisive comparisons, three seeds, to Table 2's budget (epoch 3) first: the default
#    MemoryGAN against the DCGAN as the paper defines it (z 32), and kappa 5 against kappa 10.
#    Rounds go epoch-major, so at any moment every setting has the same budget.
step headline && study --runs=memorygan,memorygan_kappa5,dcgan --max_epochs=3
# 1b. One seed's run-to-run spread: seed 0 of those three trained again with the same flags,
#     scored at the verdict rounds; a verdict must clear it. Epoch 3 first, so that the
#     epoch-3 verdicts are complete before the long stretch to epoch 10.
repeat() { python tools/run_study.py --root="$ROOT" --classifier="$CLASSIFIER" \
  --spec=flags/studies/fashion_mnist_fair_repeat.json "$@"; }
step headline_repeat && repeat --max_epochs=3
# 1c. Both to the curve's end (epoch 10). The default's seed 0 goes first: the report's figures
#     of the memory and of the likelihood over every kept checkpoint are drawn from it.
step curves && study --runs=memorygan --seeds=0
step curves && study --runs=memorygan,memorygan_kappa5,dcgan
# 1d. The rerun spread at epoch 10 for the headline comparison (the default against the DCGAN)
#     first; kappa 5's rerun waits until Table 2 (both data sets) and the peer row are in.
step curves_repeat && repeat --runs=memorygan,dcgan
# 2. Table 2's other rows and the width control, three seeds to epoch 3 (Table 2's budget),
#    one run at a time so that each row is complete as early as it can be: the width control
#    first (it says whether the DCGAN's lead comes from the memory or the input's width).
step table2 && study --runs=dcgan_z258 --max_epochs=3
step table2 && study --runs=no_mcgn --max_epochs=3
step table2 && study --runs=no_em --max_epochs=3
# 3. Table 2 on affine-MNIST with the paper's baselines, three seeds, one epoch, then the
#    default's seed 0 trained again (the rerun spread its verdicts must clear).
step affine_mnist && python tools/run_study.py --root="$ROOT" --classifier="$ROOT/classifiers/affine_mnist_w16" --classifier_width=16 \
  --classifier_epochs=5 --spec=flags/studies/affine_mnist_fair.json
step affine_mnist && python tools/run_study.py --root="$ROOT" --classifier="$ROOT/classifiers/affine_mnist_w16" \
  --spec=flags/studies/affine_mnist_fair_repeat.json
# 4. The peer table's DCGAN row on MNIST with the paper's baseline, beside MemoryGAN, then seed 0
#    of both trained again (the rerun spread its verdict must clear).
step mnist_peers && python tools/run_study.py --root="$ROOT" --classifier="$ROOT/classifiers/mnist_w16" --classifier_width=16 \
  --classifier_epochs=5 --spec=flags/studies/mnist_peers_fair.json
step mnist_peers && python tools/run_study.py --root="$ROOT" --classifier="$ROOT/classifiers/mnist_w16" \
  --spec=flags/studies/mnist_peers_fair_repeat.json
# 4b. Table 2's - EM and - MCGN at epoch 3 (Table 2's budget; the spec's later rounds are 4d's)
#     on a machine that lacks the fair study's classifier: a classifier of their own, MemoryGAN
#     trained again beside them, then its seed 0 again.
T2_CLASSIFIER="$ROOT/classifiers/fashion_mnist_w16_table2"
t2_scored() { python tools/run_study.py --root="$ROOT" --classifier="$T2_CLASSIFIER" "$@"; }
step table2_anew && t2_scored --classifier_width=16 \
  --classifier_epochs=12 --spec=flags/studies/fashion_mnist_table2_fair.json --max_epochs=3
step table2_anew && t2_scored --spec=flags/studies/fashion_mnist_table2_fair_repeat.json --max_epochs=3
# 4c. kappa 5's seed 0 trained again to epoch 10 on a machine that lacks the fair study's
#     classifier: scored by Table 2's, its purity over the 10 heaviest slots (which needs no
#     classifier) joins the committed report as kappa 5's rerun spread (tools/results_loop.sh).
step kappa5_purity && t2_scored --classifier_width=16 \
  --classifier_epochs=12 --spec=flags/studies/fashion_mnist_fair_repeat.json --runs=memorygan_kappa5
# 4d. Table 2's study of 4b continued to epoch 10 for the comparison still level at epoch 3
#     (- MCGN against MemoryGAN; - EM's is decided), then MemoryGAN's seed 0 again to epoch 10.
step table2_anew_to_10 && t2_scored --spec=flags/studies/fashion_mnist_table2_fair.json --runs=memorygan,no_mcgn
step table2_anew_to_10 && t2_scored --spec=flags/studies/fashion_mnist_table2_fair_repeat.json
# 5. kappa 5's rerun to epoch 10 (its pending rows; the default is decided by FID already).
step kappa5_repeat && repeat
# 6. Table 2's other rows and the width control to epoch 10 (beyond Table 2's budget; the
#    most compute for the least decided, so last).
step table2_to_10 && study --runs=no_em,no_mcgn,dcgan_z258
echo "fair queue: steps done:$STEPS"
