#!/usr/bin/env bash
# Commits the fair studies' reports into docs/results as soon as a new score lands (a machine
# may not come back): every few minutes, tools/study_report.py rewrites each report JSON from
# ROOT and, if it changed, commits that one file (pathspec commit: nothing else staged is
# taken). A study with no run directory yet is skipped; the classifiers the queue trains are
# committed beside them once finished.
#   ROOT=/path/to/study_runs bash tools/results_loop.sh [minutes]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/studies}
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)"
commit() {  # commit() FILE MESSAGE: commit FILE alone if it changed
  git add "$1"
  git diff --cached --quiet -- "$1" || git commit -q -m "$2" -- "$1" || true
}
report() {  # report() STUDY [REPEAT_STUDY]
  local out=docs/results/$1.json extra=()
  if [ ! -d "$ROOT/$1" ]; then
    # A study trained on a machine that is gone: seeds of its repeat study trained here join
    # its committed report (tools/study_report.py --base_report).
    [ -n "${2:-}" ] && [ -d "$ROOT/$2" ] && [ -f "$out" ] || return 0
    extra=(--base_report="$out")
  fi
  [ -n "${2:-}" ] && extra+=(--repeat_spec="flags/studies/$2.json")
  if python tools/study_report.py --spec="flags/studies/$1.json" --root="$ROOT" "${extra[@]}" \
      --out="$out" > "$ROOT/report_$1.md" 2>&1; then
    local scored
    scored=$(python -c "import json; r=json.load(open('$out'))['results']; print(sum(len(s) for run in r.values() for s in run.values()))")
    commit "$out" "Results: $1, $scored scores so far ($cpu)"
  fi
}
classifier() {  # classifier() FOLDER NAME: its record, once the queue has trained it
  [ -f "$ROOT/classifiers/$1/classifier.json" ] || return 0
  cp "$ROOT/classifiers/$1/classifier.json" "docs/results/$2.json"
  commit "docs/results/$2.json" "Results: the $1 classifier the fair studies score with ($cpu)"
}
while true; do
  report fashion_mnist_fair fashion_mnist_fair_repeat
  classifier affine_mnist_w16 affine_mnist_classifier_w16_fair
  report affine_mnist_fair affine_mnist_fair_repeat
  classifier mnist_w16 mnist_classifier_w16_fair
  report mnist_peers_fair mnist_peers_fair_repeat
  classifier fashion_mnist_w16_table2 fashion_mnist_classifier_w16_table2
  report fashion_mnist_table2_fair fashion_mnist_table2_fair_repeat
  sleep $(( ${1:-5} * 60 ))
done
