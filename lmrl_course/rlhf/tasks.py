"""The course's RLHF task: given the last P characters of a play, write the next line.

A prompt ends just after a line break, at the start of a line of verse (not a speaker's name, not a
blank line), so the response is one new line and ends with the newline character, the EOS token.
"""
from __future__ import annotations

from typing import Optional

import torch

__all__ = ["line_prompts"]


def line_prompts(text: str, tokenizer, prompt_len: int = 32, n: Optional[int] = None, seed: int = 0,
                 min_line: int = 12) -> torch.Tensor:
    """Prompts of ``prompt_len`` characters of ``text`` that end where a verse line begins, (M, P) int64.

    A position qualifies when the character before it is ``\\n`` and the line that follows has at
    least ``min_line`` characters and does not end with ``:`` (a speaker's name). ``n`` draws that many
    distinct prompts at random (seeded); None keeps all, in text order.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty str")
    if isinstance(prompt_len, bool) or not isinstance(prompt_len, int) or prompt_len < 1:
        raise ValueError(f"prompt_len must be a positive int, got {prompt_len!r}")
    starts = []
    pos = text.find("\n", prompt_len - 1)
    while pos != -1:
        i = pos + 1
        end = text.find("\n", i)
        if end == -1:
            break
        line = text[i:end]
        if len(line) >= min_line and not line.rstrip().endswith(":") and i >= prompt_len:
            starts.append(i)
        pos = end
    if not starts:
        raise ValueError("no line in text qualifies as a prompt end")
    if n is not None:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= len(starts):
            raise ValueError(f"n must be in [1, {len(starts)}] (qualifying lines), got {n!r}")
        g = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(starts), generator=g)[:n].sort().values.tolist()
        starts = [starts[j] for j in pick]
    return torch.tensor([tokenizer.encode(text[i - prompt_len:i]) for i in starts], dtype=torch.long)


TOY_WORDS = ("love", "joy", "cat", "dog", "sun", "rain", "tree", "stone", "king", "sea")


def toy_corpus(n_lines: int = 4000, seed: int = 0, words=TOY_WORDS, min_words: int = 3, max_words: int = 5) -> str:
    """A tiny synthetic "play" for fast tests: lines of 3–5 words drawn uniformly from ``words``.

    A small GPT learns it in seconds; with the annotator ``KeywordAnnotator(["love", "joy"])`` the
    base policy scores ~0.8 per line and a fine-tuned one can score several times more.
    """
    g = torch.Generator().manual_seed(seed)
    lines = []
    for _ in range(n_lines):
        k = int(torch.randint(min_words, max_words + 1, (), generator=g))
        ix = torch.randint(len(words), (k,), generator=g).tolist()
        lines.append(" ".join(words[i] for i in ix))
    return "\n".join(lines) + "\n"


__all__ += ["TOY_WORDS", "toy_corpus"]


# The course's Shakespeare recipe, shared by notebooks 08/09, the asset script and the benchmark.
PROMPT_LEN = 16          # P: characters of context before the line to write
MAX_NEW_TOKENS = 64      # N: longest response; 99% of the base model's lines end ('\n') before it
TEMPERATURE = 0.7        # τ: sampling temperature, and the temperature of every log-prob
VAL_FRACTION = 0.1       # prompts from the last 10% of the text are held out


def shakespeare_prompts(text: str, tokenizer, prompt_len: int = PROMPT_LEN) -> tuple:
    """(train prompts, held-out prompts): line starts of the first 90% and of the last 10% of ``text``."""
    n = int(len(text) * (1.0 - VAL_FRACTION))
    return line_prompts(text[:n], tokenizer, prompt_len), line_prompts(text[n:], tokenizer, prompt_len)


__all__ += ["PROMPT_LEN", "MAX_NEW_TOKENS", "TEMPERATURE", "VAL_FRACTION", "shakespeare_prompts"]


RM_RECIPE = dict(n_train_pairs=3000, n_test_pairs=500, n_layer=2, epochs=1, batch_size=32, lr=1e-3, seed=0)
# A response that reaches N characters without '\n' loses MISSING_EOS_PENALTY (standard units) from its score
# (TRL's ``missing_eos_penalty``): the cap is a budget, not a place to hide in.
MISSING_EOS_PENALTY = 1.0
PPO_RECIPE = dict(batch_size=32, max_new_tokens=MAX_NEW_TOKENS, temperature=TEMPERATURE, kl_coef=0.05,
                  clip_coef=0.2, vf_coef=0.1, lr=1e-4, update_epochs=2, num_minibatches=2,
                  missing_eos_penalty=MISSING_EOS_PENALTY)
# GRPO and RLOO: 8 prompts × 4 responses = PPO's 32 responses per update, the same epochs and minibatches.
GROUP_RECIPE = dict(num_prompts=8, group_size=4, max_new_tokens=MAX_NEW_TOKENS, temperature=TEMPERATURE,
                    kl_coef=0.05, clip_coef=0.2, lr=1e-4, update_epochs=2, num_minibatches=2,
                    missing_eos_penalty=MISSING_EOS_PENALTY)
# Notebook 09's live GRPO run: the annotator's rule (in standard units) as the reward.
RULE_GROUP_RECIPE = {**GROUP_RECIPE, "kl_coef": 0.2, "lr": 5e-5}
DPO_RECIPE = dict(beta=0.1, lr=1e-4, batch_size=32, epochs=1, seed=0)


def play_lines(text: str, min_line: int = 12) -> list:
    """The verse lines of ``text`` (no speaker names, no blank lines), in order."""
    return [line for _, line in _play_line_starts(text, min_line)]


def _play_line_starts(text: str, min_line: int = 12, prompt_len: int = 0) -> list:
    """(start index, line) of every verse line of ``text`` that has ``prompt_len`` characters before it."""
    out, i = [], 0
    for line in text.split("\n"):
        if len(line) >= min_line and not line.rstrip().endswith(":") and i >= prompt_len:
            out.append((i, line))
        i += len(line) + 1
    return out


def _cut_words(line: str, u: float) -> str:
    """The first k words of ``line``, k = 1 + ⌊u · n_words⌋ capped at n_words (u in [0, 1))."""
    words = line.split(" ")
    return " ".join(words[:min(len(words), 1 + int(u * len(words)))])


def random_line_pairs(text: str, tokenizer, n_pairs: int, seed: int = 0, prompt_len: int = PROMPT_LEN) -> tuple:
    """Candidates for the annotator: ``(texts_a, texts_b, prompts)``. Pair i is two verse lines of ``text``
    drawn at random (seeded), each cut after a random number of whole words (so that short lines are among
    the candidates too); ``prompts[i]`` (P,) is the ``prompt_len`` characters before line a in the play, the
    prompt both lines answer (DPO trains on it; the reward model reads the lines only)."""
    starts = _play_line_starts(text, prompt_len=prompt_len)
    g = torch.Generator().manual_seed(seed)
    ix = torch.randint(len(starts), (2, n_pairs), generator=g).tolist()
    u = torch.rand(2, n_pairs, generator=g).tolist()
    a = [_cut_words(starts[i][1], x) for i, x in zip(ix[0], u[0])]
    b = [_cut_words(starts[i][1], x) for i, x in zip(ix[1], u[1])]
    prompts = torch.tensor([tokenizer.encode(text[starts[i][0] - prompt_len:starts[i][0]]) for i in ix[0]],
                           dtype=torch.long)
    return a, b, prompts


def course_annotator(text: str, **kwargs):
    """The course's annotator (notebooks 08–10): :class:`~lmrl_course.rlhf.annotator.VowelAnnotator` whose vowels
    count only inside words of ``text`` (the whole play: every word it contains, :func:`~lmrl_course.rlhf.annotator.
    words_of`). On the play's own lines it scores exactly as the plain vowel share does, so it labels the reward
    model's pairs identically; on a policy's invented words ("I ae you") it does not reward the vowels."""
    from .annotator import VowelAnnotator, words_of

    if not isinstance(text, str) or not text:
        raise ValueError("text must be the play, a non-empty str")
    return VowelAnnotator(vocabulary=set(words_of(text)), **kwargs)


def course_preference_pairs(tokenizer, text: str, recipe: dict = None, annotator=None) -> tuple:
    """Notebook 08's preference pairs: ``(train, held_out)`` PreferenceData with prompts, labelled by
    :func:`course_annotator` (or ``annotator``); candidates from the first 90% of the text for training, the last
    10% held out."""
    from .reward_model import preference_data_from_texts

    r = {**RM_RECIPE, **(recipe or {})}
    annotator = course_annotator(text) if annotator is None else annotator
    eos = tokenizer.stoi["\n"]
    n = int(len(text) * (1.0 - VAL_FRACTION))
    a, b, p = random_line_pairs(text[:n], tokenizer, r["n_train_pairs"], r["seed"])
    train = preference_data_from_texts(a, b, tokenizer, annotator, MAX_NEW_TOKENS, eos, prompts=p)
    a, b, p = random_line_pairs(text[n:], tokenizer, r["n_test_pairs"], r["seed"] + 1)
    test = preference_data_from_texts(a, b, tokenizer, annotator, MAX_NEW_TOKENS, eos, prompts=p)
    return train, test


def build_course_reward_model(gpt, tokenizer, text: str, recipe: dict = None, progress: bool = False,
                              annotator=None) -> tuple:
    """Notebook 08's reward model, step for step: pairs of lines of the play (the first 90% for training,
    the last 10% held out) labelled by :func:`course_annotator` (or ``annotator``), then Bradley–Terry training of the GPT's
    first ``n_layer`` blocks with a scalar head.

    Returns ``(reward_model, info, train_pairs, held_out_pairs)``; info holds the pair counts and the held-out
    accuracy.
    """
    from ..device import seed_everything
    from .reward_model import RewardModel, preference_accuracy, train_reward_model

    r = {**RM_RECIPE, **(recipe or {})}
    train, test = course_preference_pairs(tokenizer, text, r, annotator)
    seed_everything(r["seed"])                     # the head's initial weights
    rm = RewardModel(gpt, n_layer=r["n_layer"])
    hist = train_reward_model(rm, train, epochs=r["epochs"], batch_size=r["batch_size"], lr=r["lr"], seed=r["seed"],
                              progress=progress)
    info = {"train_pairs": len(train), "test_pairs": len(test), "test_accuracy": round(preference_accuracy(rm, test), 4),
            "final_train_loss": round(sum(hist["loss"][-10:]) / len(hist["loss"][-10:]), 4), "recipe": r}
    return rm, info, train, test


def rule_reward_stats(text: str, annotator=None) -> tuple:
    """(mean, std) of the annotator's (default :func:`course_annotator`'s) scores over the play's verse lines cut to
    ``MAX_NEW_TOKENS`` characters: the offset and scale that put the rule reward in standard units (like the reward
    model's scores)."""
    annotator = course_annotator(text) if annotator is None else annotator
    scores = annotator.scores([line[:MAX_NEW_TOKENS] for line in play_lines(text)])
    return round(float(scores.mean()), 4), round(float(scores.std()), 4)


__all__ += ["course_annotator", "rule_reward_stats", "RM_RECIPE", "MISSING_EOS_PENALTY", "PPO_RECIPE", "GROUP_RECIPE", "RULE_GROUP_RECIPE",
            "DPO_RECIPE", "play_lines", "random_line_pairs", "course_preference_pairs", "build_course_reward_model"]


def reference_lines(text: str, n: int = 4000, seed: int = 0) -> list:
    """``n`` verse lines of ``text`` drawn at random (seeded), each cut after a random number of whole words, as
    the reward model's candidates are: the reference a length-neutral score is standardised against."""
    starts = _play_line_starts(text)
    g = torch.Generator().manual_seed(seed)
    ix = torch.randint(len(starts), (n,), generator=g).tolist()
    u = torch.rand(n, generator=g).tolist()
    return [_cut_words(starts[i][1], x)[:MAX_NEW_TOKENS] for i, x in zip(ix, u)]


def length_neutral_annotator(text: str, **kwargs):
    """The prototype length-neutral taste: :class:`~lmrl_course.rlhf.annotator.LengthNeutralVowelAnnotator`
    standardised against :func:`reference_lines` of the first 90% of ``text`` (the training part), its vowels counted
    only inside words of the play, as :func:`course_annotator`'s are."""
    from .annotator import LengthNeutralVowelAnnotator, words_of

    kwargs.setdefault("vocabulary", set(words_of(text)))   # like the course's annotator: vowels of the play's words
    return LengthNeutralVowelAnnotator(reference_lines(text[:int(len(text) * (1.0 - VAL_FRACTION))]), **kwargs)


__all__ += ["reference_lines", "length_neutral_annotator"]
