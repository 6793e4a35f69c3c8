"""Where the course keeps its shipped files (data and checkpoints)."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
SHAKESPEARE_PATH = ASSETS_DIR / "tinyshakespeare.txt"
GPT_CHECKPOINT_PATH = ASSETS_DIR / "gpt_shakespeare.pt"
GPT_CHECKPOINT_INFO_PATH = ASSETS_DIR / "gpt_shakespeare.json"

__all__ = ["REPO_ROOT", "ASSETS_DIR", "SHAKESPEARE_PATH", "GPT_CHECKPOINT_PATH", "GPT_CHECKPOINT_INFO_PATH"]
