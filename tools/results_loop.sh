#!/usr/bin/env bash
# Commits a study's report into docs/results as soon as a new score lands (a machine may not
# come back): every few minutes, tools/study_report.py rewrites the report JSON from ROOT and,
# if it changed, commits that one file (pathspec commit: nothing else staged is taken).
#   ROOT=/path/to/study_runs bash tools/results_loop.sh [minutes]
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=${ROOT:-runs/studies}
OUT=docs/results/fashion_mnist_fair.json
while true; do
  if python tools/study_report.py --spec=flags/studies/fashion_mnist_fair.json --root="$ROOT" \
      --repeat_spec=flags/studies/fashion_mnist_fair_repeat.json --out="$OUT" > "$ROOT/report.md" 2>&1; then
    git add "$OUT"
    if ! git diff --cached --quiet -- "$OUT"; then
      scored=$(python -c "import json,sys; r=json.load(open('$OUT'))['results']; print(sum(len(s) for run in r.values() for s in run.values()))")
      cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs) model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)"
      git commit -q -m "Results: fashion_mnist_fair, $scored scores so far ($cpu)" -- "$OUT" || true
    fi
  fi
  sleep $(( ${1:-5} * 60 ))
done
