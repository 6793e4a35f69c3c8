"""Simulated annotators with a clear, inspectable taste.

- :class:`VowelAnnotator` (the course's): likes musical lines, score = share of the letters that are vowels,
  shrunk towards the play's average share for short lines (no cliff: a short line is not punished, nor
  rewarded, for its length); the course's counts vowels only inside words of the play (``vocabulary``), so
  invented words do not please it. Dense (every line has a score), learnable by a small reward model, and
  satisfiable by a char-level GPT in a few dozen updates by choosing vowel-rich words; pushed too far, the
  policy writes vowel-rich non-words, which the reward model overrates and the annotator does not
  (over-optimisation, notebook 08).
- :class:`LengthNeutralVowelAnnotator` (a prototype, notebook 08 section 7): the vowel share standardised within
  the line's length bucket against the play's lines, so that its mean and spread do not depend on length there.
- :class:`KeywordAnnotator`: likes lines with words from a list (cheerful words by default); the tests use it
  on a toy corpus. On Shakespeare such words are rare (~1 line in 12), too sparse for a quick demo.

Asked to compare two lines an annotator prefers the one with the higher score and declines to choose
when it has no preference (those pairs are left out, as a human labeller would skip them). Because the
taste is a rule, the annotator also serves as a *rule-based reward* (:func:`annotator_reward_fn`):
notebook 09 uses it directly, the way GRPO is used with verifiable rewards.
"""
from __future__ import annotations

import re
from typing import Iterable, Optional, Sequence

import torch

__all__ = ["CHEERFUL_WORDS", "KeywordAnnotator", "VowelAnnotator"]

CHEERFUL_WORDS = ("love", "joy", "sweet", "happy", "merry", "fair", "good", "gentle", "kind", "dear", "smile",
                  "laugh", "glad", "hope", "heaven", "grace", "blessed", "peace", "delight", "gold")


class KeywordAnnotator:
    """Scores a line by how many of its words are in ``words``; prefers the higher-scoring line and
    declines to choose (None) between lines of equal score."""

    def __init__(self, words: Sequence[str] = CHEERFUL_WORDS):
        words = [w for w in words]
        if not words or any(not isinstance(w, str) or not w.strip() or not re.fullmatch(r"[\w']+", w.strip())
                            for w in words):
            raise ValueError("words must be a non-empty list of single words (letters, digits, ')")
        self.words = tuple(sorted({w.strip().lower() for w in words}))
        self._pattern = re.compile(r"(?<![\w'])(" + "|".join(map(re.escape, self.words)) + r")(?![\w'])", re.IGNORECASE)

    def matches(self, text: str) -> list:
        """The liked words found in ``text``, in order."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        return [m.group(1).lower() for m in self._pattern.finditer(text)]

    def score(self, text: str) -> float:
        return float(len(self.matches(text)))

    def scores(self, texts: Sequence[str]) -> torch.Tensor:
        """score of every text, (B,) float32 on the CPU."""
        return torch.tensor([self.score(t) for t in texts], dtype=torch.float32)

    def prefer(self, a: str, b: str) -> Optional[int]:
        """0 if ``a`` is preferred, 1 if ``b`` is, None if the annotator has no preference (equal scores)."""
        d = self.score(a) - self.score(b)
        return None if d == 0 else (0 if d > 0 else 1)

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

_WORD = re.compile(r"[a-z']+")


def words_of(text: str) -> list:
    """The words of ``text`` as :class:`VowelAnnotator` looks them up: runs of letters and apostrophes,
    lower-case, outer apostrophes stripped ("'Tis the sea--sea!" -> ['tis', 'the', 'sea', 'sea'])."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return [w for w in (m.strip("'") for m in _WORD.findall(text.lower())) if w]


__all__.append("words_of")


class VowelAnnotator(KeywordAnnotator):
    """Likes musical lines: the share of a line's letters that are vowels (a, e, i, o, u), with
    ``prior_letters`` pseudo-letters of the average share ``prior_share`` added::

        score(line) = (vowels + m · p0) / (letters + m),    m = prior_letters, p0 = prior_share

    A long line scores its own share, a short one is pulled towards p0 and an empty one scores p0: no
    cliff at any length, and a two-letter "O!" cannot win by being short. Prefers the line with the
    higher score and declines to choose when the two differ by less than ``margin``.

    ``vocabulary`` (the course passes every word of the play, :func:`~lmrl_course.rlhf.tasks.course_annotator`):
    vowels then count only inside words of the vocabulary, while every letter still counts as a letter, so an
    invented word ("ae" in "I ae you") lowers the score instead of raising it, as a reader who knows the play
    would. On lines made of the vocabulary's words the score is unchanged. A word is a run of letters and
    apostrophes, looked up lower-case with its outer apostrophes stripped (:func:`words_of`).
    """

    def __init__(self, vowels: str = "aeiou", margin: float = 0.05, prior_letters: float = 6.0,
                 prior_share: float = 0.37, vocabulary: Optional[Iterable[str]] = None):
        if not isinstance(vowels, str) or not vowels or not vowels.isalpha():
            raise ValueError(f"vowels must be a non-empty string of letters, got {vowels!r}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        if not prior_letters >= 0:
            raise ValueError(f"prior_letters must be >= 0, got {prior_letters!r}")
        if not 0 <= prior_share <= 1:
            raise ValueError(f"prior_share must be in [0, 1], got {prior_share!r}")
        self.vowels, self.margin = frozenset(vowels.lower()), float(margin)
        self.prior_letters, self.prior_share = float(prior_letters), float(prior_share)
        self.words = ()
        self.vocabulary = None
        if vocabulary is not None:
            if isinstance(vocabulary, str):
                raise TypeError("vocabulary must be an iterable of words (e.g. a set), not one str")
            vocab = list(vocabulary)
            if any(not isinstance(w, str) for w in vocab):
                raise TypeError("vocabulary must hold words (str), got " +
                                next(type(w).__name__ for w in vocab if not isinstance(w, str)))
            vocab = {w.strip("'").lower() for w in vocab}
            vocab.discard("")
            if not vocab:
                raise ValueError("vocabulary must hold at least one word (a str of letters)")
            self.vocabulary = frozenset(vocab)

    def matches(self, text: str) -> list:
        """The vowels that count, in order: every vowel of ``text``, or with a ``vocabulary`` only those inside
        its words."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if self.vocabulary is None:
            return [c for c in text.lower() if c in self.vowels]
        return [c for w in words_of(text) if w in self.vocabulary for c in w if c in self.vowels]

    def score(self, text: str) -> float:
        letters = sum(c.isalpha() for c in text)
        m = self.prior_letters
        if letters + m == 0:
            return self.prior_share
        return (len(self.matches(text)) + m * self.prior_share) / (letters + m)

    def prefer(self, a: str, b: str):
        d = self.score(a) - self.score(b)
        return None if abs(d) < self.margin else (0 if d > 0 else 1)

    def __repr__(self) -> str:
        vocab = "" if self.vocabulary is None else f", vocabulary={len(self.vocabulary)} words"
        return (f"VowelAnnotator(vowels={''.join(sorted(self.vowels))!r}, margin={self.margin}, "
                f"prior_letters={self.prior_letters}, prior_share={self.prior_share}{vocab})")


class LengthNeutralVowelAnnotator(VowelAnnotator):
    """The vowel taste made length-neutral: a line's vowel share standardised within its length bucket,
    against reference lines (the play's)::

        b(line)     = the bucket of its letter count (buckets of ``bucket_letters`` letters, the last ones merged
                      until each holds at least ``min_count`` reference lines)
        score(line) = (share(line) − μ_b) / σ_b,     μ_b, σ_b: mean and std of the reference lines' shares in b

    so that on the reference lines E[score | bucket] = 0 and Var[score | bucket] = 1 in every bucket: a short
    line can no longer win by the wider spread of a share over few letters (5 vowels in 6 letters is a common
    accident, 25 in 30 is not). A line without letters scores 0. Prefers the higher score when the two differ
    by at least ``margin`` (in standard units). ``vocabulary``: as in :class:`VowelAnnotator` (vowels count only
    inside its words; the course's prototype passes the play's words, :func:`~lmrl_course.rlhf.tasks.
    length_neutral_annotator`).
    """

    def __init__(self, reference_lines: Sequence[str], vowels: str = "aeiou", margin: float = 0.5,
                 bucket_letters: int = 5, min_count: int = 30, vocabulary: Optional[Iterable[str]] = None):
        super().__init__(vowels=vowels, margin=0.0, prior_letters=0.0, vocabulary=vocabulary)
        if not 0 <= margin:
            raise ValueError(f"margin must be >= 0, got {margin!r}")
        for name, v in (("bucket_letters", bucket_letters), ("min_count", min_count)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 2:
                raise ValueError(f"{name} must be an int >= 2, got {v!r}")
        if isinstance(reference_lines, str) or any(not isinstance(t, str) for t in reference_lines):
            raise TypeError("reference_lines must be a list of str (the lines to standardise against)")
        self.margin, self.bucket_letters = float(margin), bucket_letters
        stats = [(n, s) for n, s in map(self._letters_share, reference_lines) if n > 0]
        if len(stats) < min_count:
            raise ValueError(f"reference_lines must hold at least min_count={min_count} lines with letters, "
                             f"got {len(stats)}")
        by_bucket = {}
        for n, s in stats:
            by_bucket.setdefault(n // bucket_letters, []).append(s)
        # consecutive buckets, short to long, joined until each holds min_count reference lines
        self.edges, self.means, self.stds = [], [], []   # bucket k: letters in [edges[k], edges[k+1])
        groups, cur, start = [], [], None
        for b in sorted(by_bucket):
            if start is None:
                start = b * bucket_letters
            cur += by_bucket[b]
            if len(cur) >= min_count:
                groups.append((start, cur)); cur, start = [], None
        if cur:  # the longest lines: too few on their own, joined to the previous bucket
            s0, prev = groups.pop()
            groups.append((s0, prev + cur))
        for s0, shares in groups:
            t = torch.tensor(shares, dtype=torch.float64)
            self.edges.append(s0)
            self.means.append(float(t.mean()))
            self.stds.append(max(float(t.std()), 1e-6))
        self.edges[0] = 1

    def _letters_share(self, text: str) -> tuple:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        letters = sum(c.isalpha() for c in text)
        return letters, (len(self.matches(text)) / letters if letters else 0.0)

    def bucket(self, letters: int) -> int:
        """Index of the bucket of a line with ``letters`` letters (≥ 1)."""
        k = 0
        while k + 1 < len(self.edges) and letters >= self.edges[k + 1]:
            k += 1
        return k

    def score(self, text: str) -> float:
        n, share = self._letters_share(text)
        if n == 0:
            return 0.0
        k = self.bucket(n)
        return (share - self.means[k]) / self.stds[k]

    def __repr__(self) -> str:
        vocab = "" if self.vocabulary is None else f", vocabulary={len(self.vocabulary)} words"
        return (f"LengthNeutralVowelAnnotator({len(self.edges)} buckets from {self.edges[0]} to {self.edges[-1]}+ "
                f"letters, margin={self.margin}{vocab})")


__all__.append("LengthNeutralVowelAnnotator")
