"""Bad input to the package's public functions: a clear TypeError/ValueError naming the argument and
what was expected, or the mathematically right answer, never a silent wrong answer or a raw torch error.

Each bad input is one parametrized case: it asserts the exception type AND that the message names the
argument. Where the right answer is a value (exact_kl at -inf logits, empty rollouts, perplexity of a huge
NLL, uint8 token ids, attention over zero keys) it is compared with an independent reference: torch's own
ops or a float64 brute-force loop.
"""
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmrl_course.attention import scaled_dot_product_attention
from lmrl_course.data import CharTokenizer
from lmrl_course.gpt import GPT, GPTConfig, sample_next_token, top_k_filter, top_p_filter
from lmrl_course.lm_trainer import TrainConfig
from lmrl_course.losses import cross_entropy, entropy, kl_divergence, log_softmax, perplexity, softmax
from lmrl_course.rl.ppo import PPOConfig, clip_fraction, clipped_surrogate_loss, explained_variance, masked_mean, value_loss
from lmrl_course.rl.returns import discounted_returns, gae, normalize_advantages
from lmrl_course.rl.trpo import conjugate_gradient, trust_region_step_size
from lmrl_course.rlhf.grpo import group_advantages, rloo_advantages
from lmrl_course.rlhf.kl import exact_kl, kl_k1, kl_k3
from lmrl_course.rlhf.lm_ppo import LMPPOConfig, lm_gae, masked_whiten
from lmrl_course.rlhf.reward_model import bradley_terry_loss
from lmrl_course.rlhf.rollout import last_token_index, response_logprobs

NAN, INF = float("nan"), float("inf")


def _model(V=5):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=8))


def _ones(*shape):
    return torch.ones(*shape)


def _gae(**kw):
    args = dict(rewards=_ones(3), values=_ones(3), terminated=torch.zeros(3), truncated=torch.zeros(3),
                last_value=torch.tensor(0.0))
    args.update(kw)
    return gae(**args)


# (id, call, exception type, regex the message must match: it names the argument)
BAD = [
    # NaN hyper-parameters are rejected (NaN compares False with every bound, so it used to slip through)
    ("discounted_returns gamma=nan", lambda: discounted_returns(_ones(3), torch.zeros(3), gamma=NAN), ValueError, r"gamma .*nan"),
    ("gae gamma=nan", lambda: _gae(gamma=NAN), ValueError, r"gamma .*nan"),
    ("gae gae_lambda=nan", lambda: _gae(gae_lambda=NAN), ValueError, r"gae_lambda .*nan"),
    ("clipped_surrogate_loss clip_coef=nan", lambda: clipped_surrogate_loss(_ones(3), _ones(3), _ones(3), clip_coef=NAN),
     ValueError, r"clip_coef .*nan"),
    ("value_loss clip_coef=nan", lambda: value_loss(_ones(3), _ones(3), _ones(3), clip_coef=NAN), ValueError, r"clip_coef .*nan"),
    ("clip_fraction clip_coef=nan", lambda: clip_fraction(_ones(3), NAN), ValueError, r"clip_coef .*nan"),
    ("lm_gae gamma=nan", lambda: lm_gae(_ones(2, 3), _ones(2, 3), torch.ones(2, 3, dtype=torch.bool), gamma=NAN),
     ValueError, r"gamma .*nan"),
    ("lm_gae gae_lambda=nan", lambda: lm_gae(_ones(2, 3), _ones(2, 3), torch.ones(2, 3, dtype=torch.bool), gae_lambda=NAN),
     ValueError, r"gae_lambda .*nan"),
    ("PPOConfig gamma=nan", lambda: PPOConfig(gamma=NAN), ValueError, r"PPOConfig\.gamma .*nan"),
    ("PPOConfig clip_coef=nan", lambda: PPOConfig(clip_coef=NAN), ValueError, r"PPOConfig\.clip_coef .*nan"),
    ("LMPPOConfig gae_lambda=nan", lambda: LMPPOConfig(gae_lambda=NAN), ValueError, r"gae_lambda .*nan"),
    ("normalize_advantages eps=nan", lambda: normalize_advantages(_ones(3), eps=NAN), ValueError, r"eps .*nan"),
    ("group_advantages eps=nan", lambda: group_advantages(_ones(2, 3), eps=NAN), ValueError, r"eps .*nan"),
    ("group_advantages eps=0", lambda: group_advantages(_ones(2, 3), eps=0.0), ValueError, r"eps "),
    ("exact_kl temperature=nan", lambda: exact_kl(_ones(2, 3), _ones(2, 3), temperature=NAN), ValueError, r"temperature .*nan"),
    ("response_logprobs temperature=nan",
     lambda: response_logprobs(_model(), torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long), NAN),
     ValueError, r"temperature .*nan"),
    ("TrainConfig weight_decay=nan", lambda: TrainConfig(weight_decay=NAN), ValueError, r"weight_decay .*nan"),
    ("TrainConfig grad_clip=nan", lambda: TrainConfig(grad_clip=NAN), ValueError, r"grad_clip .*nan"),
    ("trust_region_step_size max_kl=nan", lambda: trust_region_step_size(_ones(2), _ones(2), NAN), ValueError, r"max_kl .*nan"),
    ("trust_region_step_size max_kl=-1", lambda: trust_region_step_size(_ones(2), _ones(2), -1.0), ValueError, r"max_kl "),
    ("conjugate_gradient tol=nan", lambda: conjugate_gradient(lambda v: v, _ones(2), tol=NAN), ValueError, r"tol .*nan"),
    ("gamma as a string", lambda: discounted_returns(_ones(3), torch.zeros(3), gamma="0.9"), TypeError, r"gamma must be a number"),
    # done / terminated / truncated flags and masks must be bool or 0/1
    ("discounted_returns dones=2.0", lambda: discounted_returns(_ones(3), torch.tensor([0.0, 2.0, 0.0])),
     ValueError, r"dones must hold only 0/1.*2\.0"),
    ("discounted_returns dones=0.5", lambda: discounted_returns(_ones(3), torch.tensor([0.0, 0.5, 0.0])),
     ValueError, r"dones must hold only 0/1"),
    ("gae terminated=2 (int)", lambda: _gae(terminated=torch.tensor([0, 2, 0])), ValueError, r"terminated must hold only 0/1.*2"),
    ("gae truncated=-1", lambda: _gae(truncated=torch.tensor([0.0, -1.0, 0.0])), ValueError, r"truncated must hold only 0/1"),
    ("gae terminated complex", lambda: _gae(terminated=torch.zeros(3, dtype=torch.complex64)), TypeError, r"terminated must be"),
    ("masked_mean mask=2", lambda: masked_mean(_ones(3), torch.tensor([1.0, 2.0, 0.0])), ValueError, r"mask must hold only 0/1"),
    ("clipped_surrogate_loss mask=2",
     lambda: clipped_surrogate_loss(_ones(3), _ones(3), _ones(3), mask=torch.tensor([1, 2, 0])), ValueError, r"mask must hold"),
    ("kl_k1 mask=0.5", lambda: kl_k1(_ones(3), _ones(3), torch.tensor([1.0, 0.5, 0.0])), ValueError, r"mask must hold only 0/1"),
    ("kl_k3 mask=3", lambda: kl_k3(_ones(3), _ones(3), torch.tensor([3, 1, 0])), ValueError, r"mask must hold only 0/1"),
    ("masked_whiten mask=2", lambda: masked_whiten(_ones(2, 3), torch.full((2, 3), 2)), ValueError, r"mask must hold only 0/1"),
    ("last_token_index mask=2", lambda: last_token_index(torch.full((2, 3), 2)), ValueError, r"mask must hold only 0/1"),
    ("lm_gae mask=0.5", lambda: lm_gae(_ones(2, 3), _ones(2, 3), torch.full((2, 3), 0.5)), ValueError, r"mask must hold only 0/1"),
    # sampling from a row that has no distribution
    ("greedy sampling of an all -inf row", lambda: sample_next_token(torch.tensor([[0.0, 1.0], [-INF, -INF]]), temperature=0),
     ValueError, r"logits rows \[1\]"),
    ("greedy sampling of a NaN row", lambda: sample_next_token(torch.tensor([[NAN, 1.0]]), temperature=0), ValueError, r"logits rows \[0\]"),
    ("sampling a NaN row", lambda: sample_next_token(torch.tensor([[NAN, 1.0]]), temperature=1.0), ValueError, r"logits rows \[0\].*NaN"),
    ("sampling an all -inf row", lambda: sample_next_token(torch.full((1, 3), -INF), temperature=0.7), ValueError, r"logits rows \[0\]"),
    ("sampling a +inf logit", lambda: sample_next_token(torch.tensor([[INF, 0.0]]), temperature=1.0), ValueError, r"logits rows \[0\].*\+inf"),
    ("sampling zero tokens (V=0)", lambda: sample_next_token(torch.zeros(2, 0)), ValueError, r"logits must have at least one token"),
    # token ids
    ("decode([1.7])", lambda: CharTokenizer.from_text("abc").decode([1.7]), TypeError, r"ids must hold integer token ids.*1\.7"),
    ("decode([1.0])", lambda: CharTokenizer.from_text("abc").decode([1.0]), TypeError, r"ids must hold integer"),
    ("decode([True])", lambda: CharTokenizer.from_text("abc").decode([True]), TypeError, r"ids must hold integer.*bool"),
    ("decode(float tensor)", lambda: CharTokenizer.from_text("abc").decode(torch.tensor([1.0])), TypeError, r"ids must be an integer tensor"),
    ("GPT.forward targets >= V", lambda: _model()(torch.zeros(1, 4, dtype=torch.long), torch.full((1, 4), 7)),
     ValueError, r"targets must hold token ids in \[0, 5\).*\[7"),
    ("GPT.forward targets < 0 (not -100)", lambda: _model()(torch.zeros(1, 4, dtype=torch.long), torch.tensor([[0, -3, 1, -100]])),
     ValueError, r"targets must hold token ids in \[0, 5\) or equal ignore_index=-100; got \[-3\]"),
    ("GPT.forward idx >= V", lambda: _model()(torch.tensor([[0, 5]])), ValueError, r"idx must hold token ids in \[0, 5\)"),
    ("GPT.forward float idx", lambda: _model()(torch.zeros(1, 4)), TypeError, r"idx must be an integer tensor"),
    ("cross_entropy targets >= V", lambda: cross_entropy(torch.zeros(3, 4), torch.tensor([0, 4, 1])),
     ValueError, r"targets must hold token ids in \[0, 4\)"),
    # attention
    ("attention q/k dtype mismatch", lambda: scaled_dot_product_attention(torch.randn(2, 3, 4), torch.randn(2, 3, 4).double(),
                                                                          torch.randn(2, 3, 4)), TypeError, r"q, k and v must have the same dtype"),
    ("attention v dtype mismatch", lambda: scaled_dot_product_attention(torch.randn(2, 3, 4), torch.randn(2, 3, 4),
                                                                        torch.randn(2, 3, 4).half()), TypeError, r"q, k and v .*dtype.*float16"),
    ("attention head size 0", lambda: scaled_dot_product_attention(torch.randn(2, 3, 0), torch.randn(2, 3, 0), torch.randn(2, 3, 4)),
     ValueError, r"q and k must have a head size hs >= 1"),
    # empty distributions
    ("log_softmax over zero options", lambda: log_softmax(torch.zeros(2, 0)), ValueError, r"logits has size 0 along dim=-1"),
    ("softmax over zero options", lambda: softmax(torch.zeros(0, 3), dim=0), ValueError, r"logits has size 0 along dim=0"),
    ("entropy over zero options", lambda: entropy(torch.zeros(2, 0)), ValueError, r"logits has size 0"),
    ("kl_divergence over zero options", lambda: kl_divergence(torch.zeros(2, 0), torch.zeros(2, 0)), ValueError, r"p_logits has size 0"),
    ("exact_kl over zero options", lambda: exact_kl(torch.zeros(2, 0), torch.zeros(2, 0)), ValueError, r"logits has size 0"),
    ("explained_variance of nothing", lambda: explained_variance(torch.zeros(0), torch.zeros(0)), ValueError, r"y_true is empty"),
    ("group_advantages of no group", lambda: group_advantages(torch.zeros(0, 3)), ValueError, r"rewards holds no group"),
    ("rloo_advantages of no group", lambda: rloo_advantages(torch.zeros(0, 3)), ValueError, r"rewards holds no group"),
    ("bradley_terry_loss of no pair", lambda: bradley_terry_loss(torch.zeros(0), torch.zeros(0)), ValueError, r"r_chosen and r_rejected are empty"),
    # perplexity of a negative NLL is not a perplexity
    ("perplexity(-1.0)", lambda: perplexity(-1.0), ValueError, r"mean_nll must be >= 0"),
]


@pytest.mark.parametrize("call, exc, pattern", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_input_raises_naming_the_argument(call, exc, pattern):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc, f"expected exactly {exc.__name__}, got {type(info.value).__name__}: {info.value}"
    assert re.search(pattern, str(info.value)), f"message {str(info.value)!r} does not match {pattern!r}"


# ------------------------------------------------------------------------- the right answer instead of an error

def _kl_brute_force(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KL(softmax(a) ‖ softmax(b)) per row by a float64 loop over the vocabulary, 0·log 0 = 0."""
    out = []
    for za, zb in zip(a.double().tolist(), b.double().tolist()):
        ma, mb = max(za), max(zb)
        la = math.log(sum(math.exp(x - ma) for x in za)) + ma
        lb = math.log(sum(math.exp(x - mb) for x in zb)) + mb
        total = 0.0
        for x, y in zip(za, zb):
            p = math.exp(x - la)
            if p > 0:
                total += p * ((x - la) - (y - lb))
        out.append(total)
    return torch.tensor(out, dtype=torch.float64)


def test_exact_kl_is_finite_where_logits_are_minus_inf_and_matches_torch():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 9, generator=g, dtype=torch.float64)
    ref = torch.randn(6, 9, generator=g, dtype=torch.float64)
    logits[:, [1, 4]] = -INF  # p(v) = 0 on two tokens of every row
    logits[2, 5:] = -INF
    kl = exact_kl(logits, ref)
    assert kl.dtype == torch.float64 and bool(torch.isfinite(kl).all())
    torch_kl = F.kl_div(F.log_softmax(ref, -1), F.softmax(logits, -1), reduction="none").sum(-1)  # xlogy: 0·log 0 = 0
    torch.testing.assert_close(kl, torch_kl, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(kl, _kl_brute_force(logits, ref), rtol=1e-10, atol=1e-12)
    # float32 in, float32 out; same values to float32 precision; temperature divides both
    kl32 = exact_kl(logits.float(), ref.float(), temperature=0.5)
    assert kl32.dtype == torch.float32
    torch.testing.assert_close(kl32.double(), _kl_brute_force(logits / 0.5, ref / 0.5), rtol=1e-5, atol=1e-6)
    # p > 0 where q = 0: +inf, the right answer
    assert exact_kl(torch.zeros(1, 2), torch.tensor([[0.0, -INF]])).item() == INF


def test_exact_kl_keeps_float64_precision():
    # q = softmax(a + δ·e_1): KL(p ‖ q) = log(1 + p_1 (e^δ − 1)) − δ p_1 exactly, ~½δ²p_1(1 − p_1) ≈ 1e-9,
    # below float32's resolution of the log-probs (~1e-7): only a float64 computation gets it right
    a = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    delta = 1e-4
    b = a + torch.tensor([[0.0, delta, 0.0]], dtype=torch.float64)
    p1 = torch.softmax(a, -1)[0, 1].item()
    closed_form = math.log1p(p1 * math.expm1(delta)) - delta * p1
    kl = exact_kl(a, b)
    assert kl.dtype == torch.float64
    assert kl.item() == pytest.approx(closed_form, rel=1e-6)
    assert exact_kl(a.float(), b.float()).item() != pytest.approx(closed_form, rel=1e-2)  # float32 cannot


def test_top_k_and_top_p_filters_never_return_their_input():
    logits = torch.randn(2, 5)
    before = logits.clone()
    for out in (top_k_filter(logits, 5), top_k_filter(logits, 9), top_k_filter(logits, 2), top_p_filter(logits, 1.0),
                top_p_filter(logits, 0.5)):
        assert out is not logits and out.data_ptr() != logits.data_ptr()
        out.fill_(0.0)  # writing into the result ...
        assert torch.equal(logits, before)  # ... never changes the input


def test_uint8_and_int16_token_ids_give_the_int64_answer():
    model = _model().eval()
    idx = torch.tensor([[0, 3, 4, 1], [2, 2, 0, 4]])
    targets = torch.tensor([[3, 4, 1, 0], [2, 0, 4, 1]])
    logits64, loss64 = model(idx, targets)
    for dtype in (torch.uint8, torch.int16, torch.int32):
        logits, loss = model(idx.to(dtype), targets.to(dtype))
        torch.testing.assert_close(logits, logits64, rtol=0, atol=0)
        torch.testing.assert_close(loss, loss64, rtol=0, atol=0)
    expected = F.cross_entropy(logits64.reshape(-1, 5), targets.reshape(-1))
    torch.testing.assert_close(loss64, expected)


def test_decode_accepts_numpy_and_0d_integer_tensors():
    tok = CharTokenizer.from_text("abc")
    assert tok.decode([np.int64(1), torch.tensor(2), 0]) == "bca"


def test_empty_rollouts_give_empty_returns():
    for shape in ((0,), (0, 3)):
        r = torch.zeros(shape)
        lv = torch.zeros(shape[1:])
        for last_value in (None, lv):
            assert discounted_returns(r, torch.zeros(shape), 0.9, last_value=last_value).shape == shape
        adv, ret = gae(r, r, torch.zeros(shape), torch.zeros(shape), last_value=lv)
        assert adv.shape == shape and ret.shape == shape


def test_attention_over_zero_keys_is_zero_like_torch():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 0, 4), torch.randn(2, 0, 5)
    out, w = scaled_dot_product_attention(q, k, v, return_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    assert out.shape == (2, 3, 5) and bool((out == 0).all()) and w.shape == (2, 3, 0)
    # zero queries: an empty output
    assert scaled_dot_product_attention(torch.randn(2, 0, 4), torch.randn(2, 0, 4), torch.randn(2, 0, 4)).shape == (2, 0, 4)


def test_log_softmax_of_an_empty_batch_is_empty():
    assert log_softmax(torch.zeros(0, 3)).shape == (0, 3)


def test_perplexity_of_a_huge_nll_is_inf_like_torch():
    assert perplexity(1000.0) == math.inf == torch.exp(torch.tensor(1000.0, dtype=torch.float64)).item()
    assert perplexity(2.0) == pytest.approx(math.exp(2.0))
    assert math.isnan(perplexity(NAN))


def test_numpy_hyper_parameters_are_numbers():
    r = torch.ones(3)
    torch.testing.assert_close(discounted_returns(r, torch.zeros(3), gamma=np.float32(0.5)),
                               discounted_returns(r, torch.zeros(3), gamma=0.5))


def test_valid_masks_still_pass():
    x = torch.tensor([1.0, 2.0, 3.0])
    for mask in (torch.tensor([True, False, True]), torch.tensor([1, 0, 1]), torch.tensor([1.0, 0.0, 1.0])):
        assert masked_mean(x, mask).item() == 2.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU to detect host synchronisations")
def test_no_host_sync_in_gpt_forward_and_losses_on_cuda():
    """The value checks run on the CPU only: a CUDA forward pass and the PPO losses never sync."""
    model = _model().cuda()
    idx = torch.randint(0, 5, (2, 8), device="cuda")
    x = torch.randn(2, 8, device="cuda")
    mask = torch.ones(2, 8, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        logits, loss = model(idx, idx)
        cross_entropy(logits, idx)
        clipped_surrogate_loss(x, x, x, 0.2, mask)
        discounted_returns(x.T.contiguous(), mask.T.contiguous(), 0.9)
    finally:
        torch.cuda.set_sync_debug_mode("default")
