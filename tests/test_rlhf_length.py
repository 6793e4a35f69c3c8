"""The length study's tools against hand loops: the length-neutral vowel score, binned means, the correlation,
the per-method summary of the comparison asset."""
import math
import random
import statistics

import pytest
import torch

from lmrl_course.rlhf import LengthNeutralVowelAnnotator, VowelAnnotator
from lmrl_course.rlhf.results import binned_means, correlation, method_summary


def random_lines(n, p_vowel=0.4, max_letters=40, seed=0):
    """Lines of random letters (a vowel with probability p_vowel), 1..max_letters letters, spaces and a comma."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, max_letters)
        letters = [rng.choice("aeiou") if rng.random() < p_vowel else rng.choice("bcdfghlmnrst") for _ in range(k)]
        out.append(" ".join("".join(letters[i:i + 4]) for i in range(0, k, 4)) + ",")
    return out


def by_hand_share(line):
    letters = [c for c in line.lower() if c.isalpha()]
    return sum(c in "aeiou" for c in letters) / len(letters)


def test_length_neutral_score_is_standardised_in_every_bucket_by_hand():
    ref = random_lines(4000)
    ann = LengthNeutralVowelAnnotator(ref, bucket_letters=5, min_count=30)
    assert ann.edges == [1, 5, 10, 15, 20, 25, 30, 35, 40]  # 40 letters alone has ~100 lines: its own bucket
    groups = {}
    for line in ref:
        n = sum(c.isalpha() for c in line)
        groups.setdefault(min(n // 5, 8), []).append(line)
    for b, lines in groups.items():
        shares = [by_hand_share(t) for t in lines]
        mu, sd = statistics.fmean(shares), statistics.stdev(shares)
        for t in lines[:5]:
            assert ann.score(t) == pytest.approx((by_hand_share(t) - mu) / sd, abs=1e-9)
        z = [ann.score(t) for t in lines]
        assert abs(statistics.fmean(z)) < 1e-9 and statistics.stdev(z) == pytest.approx(1.0, abs=1e-9)
    assert ann.score("") == 0.0 and ann.score("?!, ") == 0.0


def test_length_neutral_score_flattens_the_upper_tail_that_the_shrunk_share_keeps():
    """On random lines with one vowel rate, the course's shrunk share has a wider spread (a higher 90th
    percentile) over few letters; the standardised score has the same spread at every length."""
    ref, held = random_lines(4000, seed=0), random_lines(4000, seed=1)
    neutral, course = LengthNeutralVowelAnnotator(ref), VowelAnnotator()
    n = [sum(c.isalpha() for c in t) for t in held]

    def q90(ann, lo, hi):
        return torch.tensor([ann.score(t) for t, k in zip(held, n) if lo <= k < hi]).quantile(0.9).item()

    assert q90(course, 5, 10) - q90(course, 30, 40) > 0.015           # short lines: higher ceiling
    assert abs(q90(neutral, 5, 10) - q90(neutral, 30, 40)) < 0.25       # standard units: the same ceiling
    assert abs(correlation(n, [neutral.score(t) for t in held])) < 0.05


def test_length_neutral_buckets_merge_and_bad_input():
    ref = ["ab"] * 40 + ["abcdefg"] * 40 + ["a" * 12 + "b" * 10] * 3   # 2, 7 and 22 letters; the last too few
    ann = LengthNeutralVowelAnnotator(ref, bucket_letters=5, min_count=30)
    assert ann.edges == [1, 5]                     # the 22-letter lines joined the 5..9 bucket
    assert ann.bucket(1) == 0 and ann.bucket(7) == 1 and ann.bucket(60) == 1
    shares = [2 / 7] * 40 + [12 / 22] * 3
    assert ann.means[1] == pytest.approx(statistics.fmean(shares))
    assert ann.stds[1] == pytest.approx(statistics.stdev(shares))
    assert ann.prefer("a" * 12 + "b" * 10, "abcdefg") == 0
    with pytest.raises(TypeError, match="list of str"):
        LengthNeutralVowelAnnotator("one line")
    with pytest.raises(ValueError, match="at least min_count"):
        LengthNeutralVowelAnnotator(["abc"] * 5)
    with pytest.raises(ValueError, match="bucket_letters"):
        LengthNeutralVowelAnnotator(ref, bucket_letters=1)
    with pytest.raises(ValueError, match="margin"):
        LengthNeutralVowelAnnotator(ref, margin=-1)


def test_binned_means_and_correlation_by_hand():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(200, generator=g) * 30, torch.randn(200, generator=g)
    y = y + 0.1 * x
    rows = binned_means(x.tolist(), y.tolist(), [0, 10, 20, 30])
    for r in rows:
        v = [b for a, b in zip(x.tolist(), y.tolist()) if r["lo"] <= a < r["hi"]]
        assert r["n"] == len(v) and r["mean"] == pytest.approx(statistics.fmean(v))
        assert r["sem"] == pytest.approx(statistics.stdev(v) / math.sqrt(len(v)))
    assert sum(r["n"] for r in rows) == 200
    assert binned_means([1.0, 25.0], [3.0, 4.0], [0, 10, 20, 30])[1]["lo"] == 20  # the empty bin is left out
    assert correlation(x.tolist(), y.tolist()) == pytest.approx(torch.corrcoef(torch.stack([x, y]))[0, 1].item(), abs=1e-6)
    with pytest.raises(ValueError, match="increasing"):
        binned_means([1.0], [1.0], [0, 0])
    with pytest.raises(ValueError, match="same length"):
        correlation([1.0, 2.0], [1.0])


def test_method_summary_by_hand():
    final = lambda length, gold: {"score": 1.0, "gold": gold, "kl": 2.0, "length": length, "truncated_fraction": 0.0,  # noqa: E731
                                   "rm_agreement": 0.9}
    comp = {"runs": [{"method": "ppo", "seed": s, "final": final(L, g), "update_s": t}
                     for s, (L, g, t) in enumerate([(10.0, 0.5, 8.0), (20.0, 0.7, 10.0)])],
            "dpo_runs": [{"final": final(30.0, 0.4), "step_s": 3.0}],
            "best_of_n": [{"n": 4, "wall_s": 5.0, **final(38.0, 0.41)}, {"n": 4, "wall_s": 7.0, **final(40.0, 0.43)}]}
    s = method_summary(comp)
    assert s["ppo"]["length"] == [15.0, pytest.approx(math.sqrt(50.0))]
    assert s["ppo"]["gold"][0] == pytest.approx(0.6) and s["ppo"]["update_s"][0] == 9.0 and s["ppo"]["seeds"] == 2
    assert s["dpo"]["length"] == [30.0, 0.0] and s["dpo"]["update_s"] == [3.0, 0.0]
    assert s["best_of_4"]["length"] == [39.0, pytest.approx(math.sqrt(2.0))] and "grpo" not in s


def test_length_neutral_with_a_vocabulary_counts_only_known_words_vowels():
    """Hand-worked: with vocabulary {'ab'} the reference lines 'ab' (share 1/2) and 'ba' (not a word: share 0)."""
    ref = ["ab"] * 30 + ["ba"] * 30
    ann = LengthNeutralVowelAnnotator(ref, bucket_letters=5, min_count=30, vocabulary=["ab"])
    assert ann.means == [pytest.approx(0.25)]                      # (30 · 1/2 + 30 · 0) / 60
    assert ann.score("ba") < ann.score("ab")                       # the same letters, one is not a word
    assert LengthNeutralVowelAnnotator(ref, bucket_letters=5, min_count=30).means == [pytest.approx(0.5)]
    assert "vocabulary=1 words" in repr(ann)
