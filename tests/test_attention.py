"""Tests for lmrl_course.attention against torch's fused SDPA and nn.MultiheadAttention."""
import pytest
import torch
import torch.nn.functional as F

from lmrl_course.attention import (CausalSelfAttention, causal_mask, merge_heads, scaled_dot_product_attention,
                                   split_heads)
from lmrl_course.gpt import GPTConfig



def _qkv(B=2, H=3, Tq=5, Tk=5, hs=8, seed=0, dtype=torch.float32, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, Tq, hs, generator=g, dtype=dtype)
    k = torch.randn(B, H, Tk, hs, generator=g, dtype=dtype)
    v = torch.randn(B, H, Tk, hs, generator=g, dtype=dtype)
    return q.to(device), k.to(device), v.to(device)


def test_matches_torch_sdpa_no_mask(device):
    q, k, v = _qkv(Tq=4, Tk=6, device=device)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v),
                               atol=1e-5, rtol=1e-5)


def test_matches_torch_sdpa_causal(device):
    q, k, v = _qkv(Tq=7, Tk=7, device=device)
    out, w = scaled_dot_product_attention(q, k, v, is_causal=True, return_weights=True)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5, rtol=1e-5)
    assert torch.all(w.triu(1) == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 7, device=device))


def test_matches_torch_sdpa_random_bool_mask(device):
    q, k, v = _qkv(Tq=5, Tk=9, device=device)
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(2, 1, 5, 9, generator=g) < 0.6  # broadcast over heads
    mask[..., 0] = True  # every query may attend somewhere (torch gives NaN for fully masked rows)
    mask = mask.to(device)
    torch.testing.assert_close(scaled_dot_product_attention(q, k, v, mask=mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)
    # mask and is_causal together: both must allow
    sq = torch.rand(5, 5, generator=g) < 0.5
    sq[:, 0] = True
    sq = sq.to(device)
    q5, k5, v5 = q, k[..., :5, :], v[..., :5, :]
    both = sq & torch.ones(5, 5, dtype=torch.bool, device=device).tril()
    torch.testing.assert_close(scaled_dot_product_attention(q5, k5, v5, mask=sq, is_causal=True),
                               F.scaled_dot_product_attention(q5, k5, v5, attn_mask=both), atol=1e-5, rtol=1e-5)


def test_fully_masked_row_gives_zeros_not_nan():
    q, k, v = _qkv(Tq=3, Tk=4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False  # query 1 may attend to nothing
    q.requires_grad_(), k.requires_grad_(), v.requires_grad_()
    out, w = scaled_dot_product_attention(q, k, v, mask=mask, return_weights=True)
    assert torch.all(out[:, :, 1] == 0) and torch.all(w[:, :, 1] == 0)
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    assert torch.all(q.grad[:, :, 1] == 0)


def test_sdpa_gradcheck_float64():
    q, k, v = _qkv(B=1, H=2, Tq=3, Tk=4, hs=3, dtype=torch.float64)
    mask = torch.tensor([[True, False, True, True], [True, True, False, False], [False, True, True, True]])
    for t in (q, k, v):
        t.requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask=mask), (q, k, v))


def test_causal_mask_is_lower_triangular():
    m = causal_mask(5)
    assert m.dtype == torch.bool and m.shape == (5, 5)
    for i in range(5):
        for j in range(5):
            assert bool(m[i, j]) == (j <= i)


def test_split_merge_round_trip_and_layout(device):
    x = torch.randn(2, 5, 12, device=device)
    h = split_heads(x, 3)
    assert h.shape == (2, 3, 5, 4)
    for i in range(3):
        assert torch.equal(h[:, i], x[..., 4 * i:4 * (i + 1)])
    assert torch.equal(merge_heads(h), x)
    with pytest.raises(ValueError, match="divides"):
        split_heads(x, 5)


@pytest.mark.parametrize("bias", [True, False])
def test_causal_self_attention_matches_multihead_attention(device, bias):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=10, block_size=8, n_head=4, n_embd=16, bias=bias)
    attn = CausalSelfAttention(cfg).to(device).eval()
    mha = torch.nn.MultiheadAttention(16, 4, bias=bias, batch_first=True).to(device).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.c_attn.weight)
        mha.out_proj.weight.copy_(attn.c_proj.weight)
        if bias:
            mha.in_proj_bias.copy_(attn.c_attn.bias)
            mha.out_proj.bias.copy_(attn.c_proj.bias)
    x = torch.randn(3, 8, 16, device=device)
    future = ~torch.ones(8, 8, dtype=torch.bool, device=device).tril()  # MHA: True = NOT allowed
    ref, ref_w = mha(x, x, x, attn_mask=future, need_weights=True, average_attn_weights=False)
    y = attn(x)
    y2, w = attn(x, return_weights=True)  # the written-out path
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y2, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w, ref_w, atol=1e-5, rtol=1e-5)


def test_non_causal_attention_matches_unmasked_mha():
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=10, block_size=8, n_head=2, n_embd=8, bias=False, causal=False)
    attn = CausalSelfAttention(cfg).eval()
    mha = torch.nn.MultiheadAttention(8, 2, bias=False, batch_first=True).eval()
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.c_attn.weight)
        mha.out_proj.weight.copy_(attn.c_proj.weight)
    x = torch.randn(2, 6, 8)
    torch.testing.assert_close(attn(x), mha(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)


def test_sdpa_errors():
    q, k, v = _qkv()
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(q, k, v, mask=torch.zeros(5, 5))
    with pytest.raises(ValueError, match="broadcast"):
        scaled_dot_product_attention(q, k, v, mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="head size"):
        scaled_dot_product_attention(q, k[..., :4], v)
    with pytest.raises(TypeError):
        scaled_dot_product_attention(q.long(), k, v)
