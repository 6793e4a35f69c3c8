"""Character-level data: text -> token ids -> (x, y) training batches.

A character-level language model reads a text one character at a time. The tokenizer maps each of
the V distinct characters to an id in [0, V); a training example is a window of T ids x₁..x_T and the
same window shifted by one, the targets y_t = x_{t+1}.
"""
from __future__ import annotations

import numbers
from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from .paths import SHAKESPEARE_PATH
from .validation import require_in_range, require_tensor


def load_text(path: Union[str, Path, None] = None) -> str:
    """Read a UTF-8 text file; by default Tiny Shakespeare (``assets/tinyshakespeare.txt``, ~1.1M chars)."""
    path = Path(SHAKESPEARE_PATH if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"text file not found: {path}")
    return path.read_text(encoding="utf-8")


class CharTokenizer:
    """Maps characters to ids and back: ``stoi[c] = i``, ``itos[i] = c``, ids in [0, V).

    The vocabulary is the sorted set of characters of the text it was built from, so the same text
    always gives the same ids.
    """

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if not chars:
            raise ValueError("CharTokenizer needs at least one character")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer: every vocabulary entry must be a single character")
        if len(set(chars)) != len(chars):
            raise ValueError("CharTokenizer: vocabulary characters must be distinct")
        self.itos: dict[int, str] = dict(enumerate(chars))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        """Build the vocabulary from the sorted distinct characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        """V, the number of distinct characters."""
        return len(self.itos)

    @property
    def chars(self) -> list[str]:
        """The vocabulary in id order."""
        return [self.itos[i] for i in range(self.vocab_size)]

    def encode(self, s: str) -> list[int]:
        """The ids of the characters of ``s``; an unknown character raises ``ValueError``."""
        if not isinstance(s, str):
            raise TypeError(f"encode expects a str, got {type(s).__name__}")
        try:
            return [self.stoi[c] for c in s]
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary ({self.vocab_size} chars)") from None

    def decode(self, ids) -> str:
        """The string for ``ids`` (a list of ints or a 1-D integer tensor); a float or bool id raises ``TypeError``."""
        if isinstance(ids, torch.Tensor):
            require_tensor(ids, "ids", ndim=(0, 1), kind="int", dims="(T,)")
            ids = ids.reshape(-1).tolist()
        out = []
        for i in ids:
            if isinstance(i, torch.Tensor) and i.dim() == 0 and not i.dtype.is_floating_point and i.dtype != torch.bool:
                i = int(i)  # a 0-d integer tensor, e.g. from iterating over a tensor
            if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                raise TypeError(f"ids must hold integer token ids, got {i!r} ({type(i).__name__})")
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} is out of range [0, {self.vocab_size})")
            out.append(self.itos[i])
        return "".join(out)

    def to_dict(self) -> dict:
        """A JSON-able description (for checkpoints): ``{"chars": [...]}``."""
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        """Inverse of :meth:`to_dict`."""
        if not isinstance(d, dict) or "chars" not in d:
            raise ValueError("CharTokenizer.from_dict expects a dict with a 'chars' list")
        return cls(d["chars"])

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"


def train_val_split(ids: torch.Tensor, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """First ``1 - val_fraction`` of the ids for training, the last ``val_fraction`` for validation.

    A contiguous split (not a shuffle): the validation text is text the model has never seen.
    """
    require_tensor(ids, "ids", ndim=1, dims="(N,)")
    require_in_range(val_fraction, "val_fraction", 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    n = int(len(ids) * (1.0 - val_fraction))
    return ids[:n], ids[n:]


def get_batch(data: torch.Tensor, block_size: int, batch_size: int, generator: Optional[torch.Generator] = None,
              device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample B random windows: ``x[b] = data[i_b : i_b+T]``, ``y[b] = data[i_b+1 : i_b+T+1]``.

    Returns ``x, y``, each (B, T) int64 on ``device`` (default: the device of ``data``). The start
    positions are drawn with ``generator`` (a CPU ``torch.Generator``; None uses the global RNG).
    """
    require_tensor(data, "data", ndim=1, kind="int", dims="(N,)")
    for name, v in (("block_size", block_size), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if len(data) < block_size + 1:
        raise ValueError(f"data has {len(data)} tokens; need at least block_size + 1 = {block_size + 1}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    ix = torch.randint(len(data) - block_size, (batch_size,), generator=generator, device=gen_device)  # (B,)
    windows = data.unfold(0, block_size + 1, 1)[ix.to(data.device)].long()  # (B, T+1)
    x, y = windows[:, :-1], windows[:, 1:]  # (B, T), (B, T)
    if device is not None:
        device = torch.device(device)
        non_blocking = device.type == "cuda"
        x = x.to(device, non_blocking=non_blocking)
        y = y.to(device, non_blocking=non_blocking)
    return x.contiguous(), y.contiguous()


def bigram_counts(ids: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Count matrix N with ``N[a, b]`` = number of times id ``b`` follows id ``a``; (V, V) int64."""
    require_tensor(ids, "ids", ndim=1, kind="int", dims="(N,)")
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive int, got {vocab_size!r}")
    ids = ids.long()
    if len(ids) and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"ids must lie in [0, {vocab_size}), got range [{int(ids.min())}, {int(ids.max())}]")
    pair = ids[:-1] * vocab_size + ids[1:]  # (N-1,)
    return torch.bincount(pair, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)  # (V, V)


__all__ = ["load_text", "CharTokenizer", "train_val_split", "get_batch", "bigram_counts"]
