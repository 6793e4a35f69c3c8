"""Simulated annotators with a clear, inspectable taste.

- :class:`VowelAnnotator` (the course's): likes musical lines, score = share of the letters that are vowels.
  Dense (every line has a score), learnable by a small reward model, satisfiable by a char-level GPT in a
  few dozen updates, and easy to hack (``"aaa eee oo"``), which notebook 08 shows.
- :class:`KeywordAnnotator`: likes lines with words from a list (cheerful words by default); the tests use it
  on a toy corpus. On Shakespeare such words are rare (~1 line in 12), too sparse for a quick demo.

Asked to compare two lines an annotator prefers the one with the higher score and declines to choose
when it has no preference (those pairs are left out, as a human labeller would skip them). Because the
taste is a rule, the annotator also serves as a *rule-based reward* (:func:`annotator_reward_fn`):
notebook 09 uses it directly, the way GRPO is used with verifiable rewards.
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

import torch

__all__ = ["CHEERFUL_WORDS", "KeywordAnnotator", "VowelAnnotator"]

CHEERFUL_WORDS = ("love", "joy", "sweet", "happy", "merry", "fair", "good", "gentle", "kind", "dear", "smile",
                  "laugh", "glad", "hope", "heaven", "grace", "blessed", "peace", "delight", "gold")


class KeywordAnnotator:
    """Scores a line by how many of its words are in ``words``; prefers the higher-scoring line.

    ``cap`` (optional) limits the score, e.g. ``cap=3``. With ``noise > 0`` the preference is
    Bradley–Terry: P(a ≻ b) = σ((score(a) − score(b)) / noise), drawn with ``generator``.
    """

    def __init__(self, words: Sequence[str] = CHEERFUL_WORDS, cap: Optional[int] = None, noise: float = 0.0):
        words = [w for w in words]
        if not words or any(not isinstance(w, str) or not w.strip() or not re.fullmatch(r"[\w']+", w.strip())
                            for w in words):
            raise ValueError("words must be a non-empty list of single words (letters, digits, ')")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ValueError(f"cap must be None or a positive int, got {cap!r}")
        if not noise >= 0:
            raise ValueError(f"noise must be >= 0, got {noise!r}")
        self.words = tuple(sorted({w.strip().lower() for w in words}))
        self.cap, self.noise = cap, float(noise)
        self._pattern = re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, self.words)) + r")(?![\w'])", re.IGNORECASE)

    def matches(self, text: str) -> list:
        """The liked words found in ``text``, in order."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [m.group(1).lower() for m in self._pattern.finditer(text)]

    def score(self, text: str) -> float:
        n = len(self.matches(text))
        return float(n if self.cap is None else min(n, self.cap))

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """score of every text, (B,) float32 on the CPU."""
        return torch.tensor([self.score(t) for t in texts], dtype=torch.float32)

    def prefer(self, a: str, b: str, generator: Optional[torch.Generator] = None) -> Optional[int]:
        """0 if ``a`` is preferred, 1 if ``b`` is, None if the annotator has no preference (equal scores)."""
        d = self.score(a) - self.score(b)
        if self.noise == 0.0:
            return None if d == 0 else (0 if d > 0 else 1)
        p_a = torch.sigmoid(torch.tensor(d / self.noise))
        return 0 if float(torch.rand((), generator=generator)) < float(p_a) else 1

    def __repr__(self) -> str:
        return f"KeywordAnnotator({len(self.words)} words: {', '.join(self.words[:6])}, ...)"


def annotator_reward_fn(annotator: KeywordAnnotator, tokenizer, eos_id: Optional[int] = None, offset: float = 0.0,
                        scale: float = 1.0):
    """A reward function ``(prompt, response, mask) -> (score − offset) / scale``, shape (B,), that asks the
    annotator itself (a rule-based, "verifiable" reward). Scores are returned on the device of ``response``.
    ``offset``/``scale`` put the rule's scores in standard units (see ``tasks.rule_reward_stats``)."""
    from .rollout import decode_responses

    if not isinstance(annotator, KeywordAnnotator):
        raise TypeError(f"annotator must be a KeywordAnnotator, got {type(annotator).__name__}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")

    def reward_fn(prompt: torch.Tensor, response: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        texts = decode_responses(tokenizer, response, mask, strip_eos=eos_id)
        return ((annotator.scores(texts) - offset) / scale).to(response.device)

    return reward_fn


__all__.append("annotator_reward_fn")


class VowelAnnotator(KeywordAnnotator):
    """Likes musical lines: score(line) = share of its letters that are vowels (a, e, i, o, u), and 0 for a
    line of fewer than ``min_letters`` letters (too short to be musical).

    Prefers the line with the higher score, and declines to choose when the two scores differ by less
    than ``margin`` (a difference too small to care about).
    """

    def __init__(self, vowels: str = "aeiou", margin: float = 0.1, min_letters: int = 12):
        if isinstance(min_letters, bool) or not isinstance(min_letters, int) or min_letters < 1:
            raise ValueError(f"min_letters must be a positive int, got {min_letters!r}")
        self.min_letters = min_letters
        if not isinstance(vowels, str) or not vowels or not vowels.isalpha():
            raise ValueError(f"vowels must be a non-empty string of letters, got {vowels!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        self.vowels, self.margin, self.noise, self.cap = frozenset(vowels.lower()), float(margin), 0.0, None
        self.words = ()

    def matches(self, text: str) -> list:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [c for c in text.lower() if c in self.vowels]

    def score(self, text: str) -> float:
        letters = sum(c.isalpha() for c in text)
        return len(self.matches(text)) / letters if letters >= self.min_letters else 0.0

    def prefer(self, a: str, b: str, generator=None):
        d = self.score(a) - self.score(b)
        return None if abs(d) < self.margin else (0 if d > 0 else 1)

    def __repr__(self) -> str:
        return (f"VowelAnnotator(vowels={''.join(sorted(self.vowels))!r}, margin={self.margin}, "
                f"min_letters={self.min_letters})")
