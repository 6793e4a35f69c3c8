"""Rotary positions (``GPTConfig(pos_encoding="rope")``) against independent references.

The reference rotation is written with complex numbers: channel pair i of a head, (x_i, x_{i+hs/2}), is
the complex number z_i = x_i + i·x_{i+hs/2}, and position t multiplies it by e^{i·t·θ_i},
θ_i = 10000^(−2i/hs) (RoFormer's definition, in the half-split pairing). Nothing here calls
``apply_rotary`` to produce an expected value.
"""
import math

import pytest
import torch

from lmrl_course.attention import apply_rotary, rotary_tables
from lmrl_course.gpt import GPT, GPTConfig, count_parameters_by_formula
from lmrl_course.rlhf import response_logprobs, sample_responses


def complex_rotation(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """x (..., T, hs) float64 -> rotated, via z · e^{i t θ} in complex128."""
    hs = x.shape[-1]
    half = hs // 2
    theta = torch.tensor([base ** (-2 * i / hs) for i in range(half)], dtype=torch.float64)
    z = torch.complex(x[..., :half], x[..., half:])  # (..., T, hs/2)
    rot = torch.polar(torch.ones(len(positions), half, dtype=torch.float64), positions[:, None].double() * theta)
    w = z * rot
    return torch.cat([w.real, w.imag], dim=-1)


def test_apply_rotary_equals_complex_multiplication():
    x = torch.randn(2, 3, 7, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    cos, sin = rotary_tables(7, 8)
    got = apply_rotary(x, cos.double(), sin.double())
    torch.testing.assert_close(got, complex_rotation(x, torch.arange(7)), rtol=1e-6, atol=1e-6)  # tables are float32
    # a rotation: every channel pair keeps its length, position 0 is the identity
    n = x[..., :4] ** 2 + x[..., 4:] ** 2
    torch.testing.assert_close(got[..., :4] ** 2 + got[..., 4:] ** 2, n, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(got[..., 0, :], x[..., 0, :])


def test_rotary_score_depends_only_on_the_offset():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(16, generator=g), torch.randn(16, generator=g)
    cos, sin = rotary_tables(64, 16)

    def score(t, s):
        return float(apply_rotary(q[None], cos[t:t + 1], sin[t:t + 1]) @ apply_rotary(k[None], cos[s:s + 1], sin[s:s + 1]).T)

    for offset in (0, 1, 5, 20):
        ref = score(offset, 0)
        for s in (3, 17, 40):
            assert abs(score(s + offset, s) - ref) < 1e-4
    assert abs(score(5, 0) - score(9, 0)) > 1e-3  # different offsets, different scores


def test_config_checks_and_parameters():
    with pytest.raises(ValueError, match="pos_encoding"):
        GPTConfig(vocab_size=5, pos_encoding="sinusoidal")
    with pytest.raises(ValueError, match="even"):
        GPTConfig(vocab_size=5, n_embd=12, n_head=4, pos_encoding="rope")  # head size 3
    c = GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False, pos_encoding="rope")
    m = GPT(c)
    assert "transformer.wpe.weight" not in m.state_dict()  # no position parameters
    assert not any("rope" in k for k in m.state_dict())  # the tables are not saved (recomputed)
    # by hand: E 65·128, per block 12·128² + 2·128 (LayerNorm gains), final LayerNorm 128; no T_max·C
    by_hand = 65 * 128 + 4 * (12 * 128 * 128 + 2 * 128) + 128
    assert m.num_parameters() == count_parameters_by_formula(c) == by_hand
    assert m.num_parameters(non_embedding=True) == by_hand


def _functional_rope_gpt(idx, sd, n_layer, n_head, rotate=True):
    """The rotary GPT from its equations with plain tensor ops: h = E[x] (no P); per block
    h += W_O concat_h softmax(rot(q) rot(k)ᵀ/√hs + M) v on LN₁(h); h += W₂ GELU(W₁ LN₂(h)); z = LN_f(h) Eᵀ."""
    def ln(x, name):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * sd[name + ".weight"]

    E = sd["transformer.wte.weight"]
    B, T = idx.shape
    C = E.shape[1]
    hs = C // n_head
    pos = torch.arange(T)
    h = E[idx]
    blocked = torch.ones(T, T, dtype=torch.bool).triu(1)
    for l in range(n_layer):
        pre = f"transformer.h.{l}."
        qkv = ln(h, pre + "ln_1") @ sd[pre + "attn.c_attn.weight"].T
        heads = []
        for i in range(n_head):
            q, k = qkv[..., i * hs:(i + 1) * hs], qkv[..., C + i * hs:C + (i + 1) * hs]
            if rotate:
                q, k = complex_rotation(q, pos), complex_rotation(k, pos)
            v = qkv[..., 2 * C + i * hs:2 * C + (i + 1) * hs]
            scores = (q @ k.transpose(-1, -2) / math.sqrt(hs)).masked_fill(blocked, float("-inf"))
            heads.append(torch.softmax(scores, dim=-1) @ v)
        h = h + torch.cat(heads, dim=-1) @ sd[pre + "attn.c_proj.weight"].T
        u = ln(h, pre + "ln_2") @ sd[pre + "mlp.c_fc.weight"].T
        h = h + (0.5 * u * (1 + torch.erf(u / math.sqrt(2)))) @ sd[pre + "mlp.c_proj.weight"].T
    return ln(h, "transformer.ln_f") @ E.T


def _rope_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16, bias=False, pos_encoding="rope")
    return GPT(GPTConfig(**{**cfg, **kw}))


def test_rope_forward_matches_an_independent_functional_gpt():
    m = _rope_model().double().eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * (0.3 if p.dim() < 2 else p.shape[1] ** -0.5))
    idx = torch.randint(0, 11, (3, 16), generator=g)
    ref = _functional_rope_gpt(idx, m.state_dict(), 2, 2)
    torch.testing.assert_close(m(idx)[0], ref, rtol=1e-5, atol=1e-5)  # float32 angle tables
    # the rotation is not a no-op: without it the same weights give other logits
    assert (m(idx)[0] - _functional_rope_gpt(idx, m.state_dict(), 2, 2, rotate=False)).abs().max() > 1e-2


def test_rope_model_is_causal_and_sees_positions():
    m = _rope_model().eval()
    idx = torch.randint(0, 11, (2, 12), generator=torch.Generator().manual_seed(4))
    changed = idx.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 11
    with torch.no_grad():
        a, b = m(idx)[0], m(changed)[0]
    torch.testing.assert_close(a[:, :8], b[:, :8])  # the future does not leak
    # order matters (without positions attention is a bag of the earlier tokens): swapping the first two
    # tokens changes the logits at the last position. (A run of one repeated token, by contrast, gives
    # the same output everywhere with rotary positions: every value vector is the same.)
    ab, ba = torch.tensor([[2, 7, 4, 9]]), torch.tensor([[7, 2, 4, 9]])
    with torch.no_grad():
        assert (m(ab)[0][0, -1] - m(ba)[0][0, -1]).abs().max() > 1e-3


def test_kv_cache_sampling_of_a_rope_model_matches_the_full_model():
    m = _rope_model(seed=2)
    prompt = torch.randint(0, 11, (4, 3), generator=torch.Generator().manual_seed(5))
    ro = sample_responses(m, prompt, 10, 1.0, generator=torch.Generator().manual_seed(6))
    for b in range(4):  # prefix by prefix, the full model without a cache
        for t in range(10):
            ids = torch.cat([prompt[b], ro.response[b, :t]])[None]
            with torch.no_grad():
                lp = torch.log_softmax(m(ids)[0][0, -1], -1)[ro.response[b, t]]
            assert abs(float(lp) - float(ro.logp[b, t])) < 1e-5
    with torch.no_grad():
        torch.testing.assert_close(response_logprobs(m, ro.prompt, ro.response, 1.0, ro.mask), ro.logp,
                                   rtol=1e-5, atol=1e-5)


def test_rope_model_on_every_device_matches_the_cpu(device):
    m = _rope_model(seed=7).eval()
    idx = torch.randint(0, 11, (2, 16), generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        ref = m(idx)[0]
        got = m.to(device)(idx.to(device))[0].cpu()
    assert m.transformer.h[0].attn.rope_cos.device.type == torch.device(device).type  # the tables moved along
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-4)
