"""The language-model exercises (notebooks 01-03): every checker accepts the reference and the
registered solution, rejects deliberately wrong versions with a message that points at the mistake,
and its reference agrees with an independent implementation (torch's own ops, a model, a loop)."""
import math

import pytest
import torch
import torch.nn.functional as F

from lmrl_course.exercises import FAIL, NOT_ATTEMPTED, PASS, check, get_exercise
from lmrl_course.gpt import GPT, GPTConfig

LM_EXERCISES = ["log_softmax", "cross_entropy", "causal_attention", "split_heads", "merge_heads",
                "count_parameters", "top_p_filter"]


# ------------------------------------------------------------------ references and solutions

@pytest.mark.parametrize("name", LM_EXERCISES)
def test_reference_and_solution_pass(name):
    ex = get_exercise(name)
    assert check(name, ex.reference).status == PASS
    namespace = {"torch": torch, "math": math, "F": F, "log_softmax": get_exercise("log_softmax").reference}
    exec(ex.solution, namespace)
    result = check(name, namespace[name])
    assert result.status == PASS, result.message
    assert len(ex.hints) >= 2


@pytest.mark.parametrize("name", LM_EXERCISES)
def test_unattempted_is_reported_as_such(name):
    def unattempted(*args, **kwargs):
        raise NotImplementedError
    assert check(name, unattempted).status == NOT_ATTEMPTED


def test_references_agree_with_independent_versions():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 11, generator=g) * 5
    torch.testing.assert_close(get_exercise("log_softmax").reference(z), torch.log_softmax(z, dim=-1))
    y = torch.randint(11, (5,), generator=g)
    y[1] = -100
    torch.testing.assert_close(get_exercise("cross_entropy").reference(z, y), F.cross_entropy(z, y))
    q, k, v = (torch.randn(2, 3, 7, 4, generator=g) for _ in range(3))
    torch.testing.assert_close(get_exercise("causal_attention").reference(q, k, v),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True))
    x = torch.randn(2, 5, 12, generator=g)
    split = get_exercise("split_heads").reference(x, 3)
    for h in range(3):  # head h holds channels 4h .. 4h+3
        torch.testing.assert_close(split[:, h], x[..., 4 * h: 4 * h + 4])
    torch.testing.assert_close(get_exercise("merge_heads").reference(split), x)


@pytest.mark.parametrize("cfg", [GPTConfig(vocab_size=65), GPTConfig(vocab_size=10, block_size=4, n_layer=1, n_head=1, n_embd=8),
                                 GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16, bias=False)])
def test_count_parameters_reference_matches_a_real_model(cfg):
    model = GPT(cfg)
    by_hand = sum(p.numel() for p in model.parameters())  # parameters() counts the tied matrix once
    assert get_exercise("count_parameters").reference(cfg) == by_hand


def test_top_p_reference_matches_a_loop():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 9, generator=g) * 2
    for p in (0.3, 0.75, 0.95):
        got = get_exercise("top_p_filter").reference(logits, p)
        for row in range(logits.shape[0]):
            probs = torch.softmax(logits[row], dim=-1)
            kept, mass = set(), 0.0
            for i in probs.argsort(descending=True).tolist():  # add tokens until the mass reaches p
                kept.add(i)
                mass += probs[i].item()
                if mass >= p:
                    break
            assert set(torch.isfinite(got[row]).nonzero().flatten().tolist()) == kept


# ------------------------------------------------------------------ wrong versions

def ls_naive(z, dim=-1):
    return (z.exp() / z.exp().sum(dim=dim, keepdim=True)).log()


def ls_wrong_dim(z, dim=-1):
    s = z - z.amax(dim=0, keepdim=True)
    return s - s.exp().sum(dim=0, keepdim=True).log()


def ls_forgot_log(z, dim=-1):
    s = z - z.amax(dim=dim, keepdim=True)
    return s.exp() / s.exp().sum(dim=dim, keepdim=True)


def ls_float32(z, dim=-1):
    return torch.log_softmax(z.float(), dim=dim)


def ls_no_return(z, dim=-1):
    s = z - z.amax(dim=dim, keepdim=True)
    s - s.exp().sum(dim=dim, keepdim=True).log()


def ls_detached(z, dim=-1):
    return torch.tensor(torch.log_softmax(z, dim=dim).tolist(), dtype=z.dtype)


def ce_no_ignore(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).clamp(min=0))


def ce_wrong_count(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)
    keep = targets != ignore_index
    nll = -torch.log_softmax(logits, -1).gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / len(targets)  # divides by all positions, ignored ones included


def ce_sum(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=ignore_index, reduction="sum")


def ce_no_minus(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return -F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=ignore_index)


def ce_naive(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)
    keep = targets != ignore_index
    logp = (logits.exp() / logits.exp().sum(-1, keepdim=True)).log()
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()


def ce_hardcoded_ignore(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)


def _causal(q, k, v, scale, dim=-1, strict=False, mask=True):
    T = q.shape[-2]
    s = q @ k.transpose(-2, -1) * scale
    if mask:
        m = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1 if strict else 0)
        s = s.masked_fill(~m, float("-inf"))
    return torch.softmax(s, dim=dim) @ v


def ca_no_scale(q, k, v):
    return _causal(q, k, v, 1.0)


def ca_scale_dk(q, k, v):
    return _causal(q, k, v, 1.0 / q.shape[-1])


def ca_wrong_axis(q, k, v):
    return _causal(q, k, v, 1.0 / math.sqrt(q.shape[-1]), dim=-2)


def ca_no_mask(q, k, v):
    return _causal(q, k, v, 1.0 / math.sqrt(q.shape[-1]), mask=False)


def ca_strict(q, k, v):  # a token may not read itself: the first row is fully masked
    return _causal(q, k, v, 1.0 / math.sqrt(q.shape[-1]), strict=True)


def ca_future_only(q, k, v):  # the mask the wrong way round
    T = q.shape[-2]
    future = torch.tril(torch.ones(T, T, dtype=torch.bool), -1)
    s = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(future, float("-inf"))
    return torch.softmax(s, -1) @ v


def sh_view_only(x, n_head):
    B, T, C = x.shape
    return x.view(B, n_head, T, C // n_head)


def sh_interleaved(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, C // n_head, n_head).permute(0, 3, 1, 2)


def sh_no_transpose(x, n_head):
    B, T, C = x.shape
    return x.view(B, T, n_head, C // n_head)


def mh_no_transpose(x):
    B, H, T, hs = x.shape
    return x.reshape(B, T, H * hs)


def mh_interleaved(x):
    B, H, T, hs = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, H * hs)


def mh_wrong_shape(x):
    return x.transpose(1, 2)


def _count(config, tied=True, pos=True, mlp=4, ln=True, bias_aware=True):
    C, V, L = config.n_embd, config.vocab_size, config.n_layer
    b = 1 if (config.bias or not bias_aware) else 0
    emb = V * C + (config.block_size * C if pos else 0) + (0 if tied else V * C)
    attn = 3 * C * C + b * 3 * C + C * C + b * C
    m = mlp * C * C + b * mlp * C + mlp * C * C + b * C
    lns = 2 * (C + b * C) if ln else 0
    return emb + L * (attn + m + lns) + ((C + b * C) if ln else 0)


def cp_untied(config):
    return _count(config, tied=False)


def cp_no_pos(config):
    return _count(config, pos=False)


def cp_mlp2(config):
    return _count(config, mlp=2)


def cp_no_ln(config):
    return _count(config, ln=False)


def cp_ignores_bias(config):
    return _count(config, bias_aware=False)


def _top_p(logits, p, strict=False, unsort=True, fill=float("-inf"), use_probs=True, descending=True):
    s, order = torch.sort(logits, dim=-1, descending=descending)
    pr = torch.softmax(s, -1) if use_probs else s
    drop_s = (pr.cumsum(-1) > p) if strict else (pr.cumsum(-1) - pr >= p)
    drop = torch.zeros_like(drop_s).scatter(-1, order, drop_s) if unsort else drop_s
    return logits.masked_fill(drop, fill)


def tp_drops_crossing_token(logits, p):
    return _top_p(logits, p, strict=True)


def tp_no_unsort(logits, p):
    return _top_p(logits, p, unsort=False)


def tp_zero_fill(logits, p):
    return _top_p(logits, p, fill=0.0)


def tp_cumsum_of_logits(logits, p):
    return _top_p(logits, p, use_probs=False)


def tp_ascending(logits, p):
    return _top_p(logits, p, descending=False)


WRONG = [
    ("log_softmax", ls_naive, "contains nan at index (0, 0) where the reference is 0 (overflow or log(0)? subtract the max before exp)"),
    ("log_softmax", ls_wrong_dim, "case 1/7 (random logits, shape (4, 7)): output differs from the reference"),
    ("log_softmax", ls_forgot_log, "output differs from the reference: max abs error 3.82"),
    ("log_softmax", ls_float32, "has dtype torch.float32, expected torch.float64"),
    ("log_softmax", ls_no_return, "output is None: did you forget the `return` statement?"),
    ("log_softmax", ls_detached, "the output has no gradient path to the inputs"),
    ("cross_entropy", ce_no_ignore, "case 4/6 (padding: some targets are -100 and must be left out of the sum AND the count)"),
    ("cross_entropy", ce_wrong_count, "case 4/6 (padding"),
    ("cross_entropy", ce_sum, "case 1/6 (logits (8, 10), targets (8,)): output differs from the reference"),
    ("cross_entropy", ce_no_minus, "expected 2.46375, got -2.46375"),
    ("cross_entropy", ce_naive, "case 3/6 (huge logits (±1e4): use a stable log-softmax): output contains nan at index () where the reference is 6667.26 (overflow? use a stable log-softmax"),
    ("cross_entropy", ce_hardcoded_ignore, "case 5/6 (ignore_index=0: the targets equal to 0 are left out)"),
    ("causal_attention", ca_no_scale, "case 1/6 (one sequence: q, k, v of shape (1, 4, 8)): output differs"),
    ("causal_attention", ca_scale_dk, "output differs from the reference"),
    ("causal_attention", ca_wrong_axis, "output differs from the reference"),
    ("causal_attention", ca_no_mask, "output differs from the reference"),
    ("causal_attention", ca_strict, "output contains nan at index (0, 0, 0) where the reference is 0.925742 (a row with every key masked gives 0/0"),
    ("causal_attention", ca_future_only, "output differs from the reference"),
    ("split_heads", sh_view_only, "case 1/4 (x (2, 5, 12) into 3 heads of size 4): output differs from the reference"),
    ("split_heads", sh_interleaved, "output differs from the reference"),
    ("split_heads", sh_no_transpose, "output has shape (2, 5, 3, 4), expected (2, 3, 5, 4)"),
    ("merge_heads", mh_no_transpose, "case 1/3 (x (2, 3, 5, 4) -> (2, 5, 12)): output differs from the reference"),
    ("merge_heads", mh_interleaved, "output differs from the reference"),
    ("merge_heads", mh_wrong_shape, "output has shape (2, 5, 3, 4), expected (2, 5, 12)"),
    ("count_parameters", cp_untied, "expected 809856, got 818176"),
    ("count_parameters", cp_no_pos, "expected 809856, got 801664"),
    ("count_parameters", cp_mlp2, "expected 809856, got 546688"),
    ("count_parameters", cp_no_ln, "expected 809856, got 807552"),
    ("count_parameters", cp_ignores_bias, "case 3/5 (bias=False: no Linear biases and no LayerNorm biases): output: expected 7776, got 8144"),
    ("top_p_filter", tp_drops_crossing_token, "case 1/8 (logits (4, 10), p = 0.9): output contains -inf at index (0, 8) where the reference is -0.341227 (you dropped a token the reference keeps: the token whose cumulative probability crosses p stays"),
    ("top_p_filter", tp_no_unsort, "the mask must be put back in vocabulary order"),
    ("top_p_filter", tp_zero_fill, "expected -inf, got 0.0"),
    ("top_p_filter", tp_cumsum_of_logits, "output contains -inf"),
    ("top_p_filter", tp_ascending, "expected -inf, got"),
]


@pytest.mark.parametrize("name, fn, fragment", WRONG, ids=[f"{n}-{f.__name__}" for n, f, _ in WRONG])
def test_wrong_versions_fail_with_the_right_message(name, fn, fragment):
    result = check(name, fn)
    assert result.status == FAIL
    assert fragment in result.message, result.message
    assert result.function is get_exercise(name).reference  # the notebook carries on with the reference


def test_each_checker_rejects_at_least_three_mistakes():
    counts = {name: sum(1 for n, _, _ in WRONG if n == name) for name in LM_EXERCISES}
    assert all(c >= 3 for c in counts.values()), counts
