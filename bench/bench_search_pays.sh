#!/usr/bin/env bash
# Issue 16: does the default search pay for itself? Notebook 02 with its default parameters (the recipe as trial 0,
# a budget of 2 recipe runs in training examples, ASHA, then the recipe and the 2 best trials re-checked on the
# full training set with seeds 42 43 44) on real GLUE data with all-MiniLM-L6-v2, through bench/executed_notebooks.sh.
# STS-B's executed notebook becomes docs/executed/02_hyperparameter_search.ipynb; the others go to the results folder.
#   bash bench/bench_search_pays.sh [stsb mrpc rte]   (default stsb mrpc; about 40 minutes per task on 2 CPU cores)
# Writes bench/results/search-pays-<stamp>-vm/<task>.json (bench/search_pays_report.py) and keeps the runs in
# bench/runs/search-pays/<task>/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$PWD/.venv/bin/python}
OUT=${OUT:-bench/results/search-pays-$(date -u +%Y%m%d-%H%M%S)-vm}
mkdir -p "$OUT"
for task in "${@:-stsb mrpc}"; do
  for t in $task; do
    work=$PWD/bench/runs/search-pays/$t
    rm -rf "$work" && mkdir -p "$work"
    dest=$OUT && [ "$t" = stsb ] && dest=docs/executed
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    start=$(date +%s)
    TASK=$t WORK=$work DEST=$dest bash bench/executed_notebooks.sh 02
    wall=$(( $(date +%s) - start ))
    load_after=$(cut -d' ' -f1-3 /proc/loadavg)
    "$PY" bench/search_pays_report.py --task "$t" --run "$work/runs/$t-search" \
        --notebook "$work/02_hyperparameter_search.ipynb" --wall "$wall" \
        --load "$load_before -> $load_after" --out "$OUT/$t.json"
  done
done
