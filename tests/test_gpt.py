"""Tests for lmrl_course.gpt: shapes, causality, parameter formula, overfitting, sampling, errors."""
import pytest
import torch

from lmrl_course.gpt import (GPT, GPTConfig, count_parameters_by_formula, sample_next_token, top_k_filter,
                             top_p_filter)



def _model(device="cpu", **kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=16)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).to(device).eval()


def _idx(B, T, V=11, seed=0, device="cpu"):
    return torch.randint(0, V, (B, T), generator=torch.Generator().manual_seed(seed)).to(device)


def test_shapes_and_initial_loss(device):
    m = _model(device)
    idx, tgt = _idx(3, 10, device=device), _idx(3, 10, seed=1, device=device)
    logits, loss = m(idx, tgt)
    assert logits.shape == (3, 10, 11) and loss.shape == ()
    assert m(idx)[1] is None
    # small init: logits near 0, so the loss starts near ln V
    assert abs(loss.item() - torch.log(torch.tensor(11.0)).item()) < 0.1
    h = m.hidden_states(idx)
    assert h.shape == (3, 10, 16)
    torch.testing.assert_close(h @ m.transformer.wte.weight.T, logits)  # tied LM head: z = h Eᵀ
    assert m.lm_head.weight is m.transformer.wte.weight


def test_attention_maps(device):
    m = _model(device, n_layer=3)
    maps = m.attention_maps(_idx(2, 9, device=device))
    assert len(maps) == 3
    for w in maps:
        assert w.shape == (2, 2, 9, 9)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 2, 9, device=device))
        assert torch.all(w.triu(1) == 0)


def test_causality(device):
    m = _model(device)
    idx = _idx(2, 12, device=device)
    changed = idx.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 11
    a, b = m(idx)[0], m(changed)[0]
    torch.testing.assert_close(a[:, :7], b[:, :7], rtol=0, atol=1e-6)  # the past cannot see position 7
    assert (a[:, 7:] - b[:, 7:]).abs().max() > 1e-4
    cheat = _model(device, causal=False)
    a, b = cheat(idx)[0], cheat(changed)[0]
    assert (a[:, :7] - b[:, :7]).abs().max() > 1e-4  # without the mask, earlier positions see the change


def _closed_form_count(V, T_max, L, C, bias):
    """Parameters of a GPT by hand: E (V·C) + P (T_max·C) + L blocks of 12C² weights (QKV 3C², W_O C²,
    MLP 4C² + 4C²), 2C LayerNorm gains and, with biases, 2C LayerNorm biases + 9C Linear biases
    (3C + C + 4C + C); the final LayerNorm C (+ C); the LM head is tied to E."""
    per_block = 12 * C * C + 2 * C + (11 * C if bias else 0)
    return V * C + T_max * C + L * per_block + (2 * C if bias else C)


def test_closed_form_count_worked_by_hand():
    # V = 65, T_max = 32, L = 2, C = 64, biases: 4,160 + 2,048 + 2·(49,152 + 128 + 704) + 128
    assert _closed_form_count(65, 32, 2, 64, True) == 4_160 + 2_048 + 2 * (49_152 + 128 + 704) + 128 == 106_304
    # the shipped model: V = 65, T_max = 128, L = 4, C = 192, no biases (its report says 1,808,256)
    assert _closed_form_count(65, 128, 4, 192, False) == 1_808_256


@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(n_layer=3, n_head=4, n_embd=32, block_size=20),
                                dict(vocab_size=65, block_size=128, n_layer=4, n_head=4, n_embd=192, bias=False)])
def test_parameter_count_matches_the_closed_formula(kw):
    m = _model(**kw)
    c = m.config
    expected = _closed_form_count(c.vocab_size, c.block_size, c.n_layer, c.n_embd, c.bias)
    assert m.num_parameters() == expected
    assert count_parameters_by_formula(c) == expected
    assert m.num_parameters(non_embedding=True) == expected - c.block_size * c.n_embd


def _functional_gpt(idx, sd, n_layer, n_head, targets=None, causal=True):
    """The GPT written from its equations with plain tensor ops (no nn modules, no lmrl_course code):
    h = E[x] + P[t]; per block h += W_O·concat_heads softmax(q kᵀ/√hs + M) v on LN₁(h), then
    h += W₂ GELU(W₁ LN₂(h) + b₁) + b₂; z = LN_f(h) Eᵀ; loss = mean NLL over targets != -100."""
    def ln(x, name):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        y = (x - mu) / torch.sqrt(var + 1e-5) * sd[name + ".weight"]
        return y + sd[name + ".bias"] if name + ".bias" in sd else y

    def lin(x, name):
        y = x @ sd[name + ".weight"].T
        return y + sd[name + ".bias"] if name + ".bias" in sd else y

    E, P = sd["transformer.wte.weight"], sd["transformer.wpe.weight"]
    B, T = idx.shape
    C = E.shape[1]
    hs = C // n_head
    h = E[idx] + P[:T]
    blocked = torch.ones(T, T, dtype=torch.bool).triu(1) if causal else torch.zeros(T, T, dtype=torch.bool)
    for l in range(n_layer):
        pre = f"transformer.h.{l}."
        qkv = lin(ln(h, pre + "ln_1"), pre + "attn.c_attn")
        heads = []
        for i in range(n_head):
            q = qkv[..., i * hs:(i + 1) * hs]
            k = qkv[..., C + i * hs:C + (i + 1) * hs]
            v = qkv[..., 2 * C + i * hs:2 * C + (i + 1) * hs]
            scores = (q @ k.transpose(-1, -2) / hs ** 0.5).masked_fill(blocked, float("-inf"))
            heads.append(torch.softmax(scores, dim=-1) @ v)
        h = h + lin(torch.cat(heads, dim=-1), pre + "attn.c_proj")
        u = lin(ln(h, pre + "ln_2"), pre + "mlp.c_fc")
        h = h + lin(0.5 * u * (1 + torch.erf(u / 2 ** 0.5)), pre + "mlp.c_proj")
    logits = ln(h, "transformer.ln_f") @ E.T
    if targets is None:
        return logits, None
    logp = torch.log_softmax(logits, dim=-1)
    keep = targets != -100
    nll = [-logp[b, t, targets[b, t]] for b in range(B) for t in range(T) if keep[b, t]]
    return logits, torch.stack(nll).mean()


@pytest.mark.parametrize("kw", [dict(), dict(bias=False), dict(n_layer=3, n_head=4, n_embd=32), dict(causal=False)])
def test_forward_matches_an_independent_functional_gpt(kw):
    m = _model(**kw).double()
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():  # random weights everywhere (LayerNorm gains and biases too), not just the init
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * (0.3 if p.dim() < 2 else p.shape[1] ** -0.5))
    idx, tgt = _idx(3, 12), _idx(3, 12, seed=1)
    tgt[0, 5:] = -100
    tgt[2, :2] = -100
    logits, loss = m(idx, tgt)
    ref_logits, ref_loss = _functional_gpt(idx, m.state_dict(), m.config.n_layer, m.config.n_head, tgt,
                                           causal=m.config.causal)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-10, atol=1e-10)
    short = _idx(2, 5, seed=2)  # T < block_size: only P[0..T-1]
    torch.testing.assert_close(m(short)[0], _functional_gpt(short, m.state_dict(), m.config.n_layer, m.config.n_head,
                                                            causal=m.config.causal)[0], rtol=1e-10, atol=1e-10)


def test_initialisation_scales():
    torch.manual_seed(0)
    m = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=4, n_embd=256, init_std=None))
    blk = m.transformer.h[0]
    assert abs(blk.attn.c_attn.weight.std().item() - 256 ** -0.5) < 0.002  # 1/sqrt(fan_in)
    assert abs(blk.mlp.c_fc.weight.std().item() - 256 ** -0.5) < 0.002
    assert abs(blk.mlp.c_proj.weight.std().item() - 0.02 / 6 ** 0.5) < 0.0005  # 0.02/sqrt(2 n_layer)
    assert abs(m.transformer.wte.weight.std().item() - 0.02) < 0.001
    assert torch.all(blk.attn.c_attn.bias == 0) and torch.all(blk.ln_1.weight == 1)
    torch.manual_seed(0)
    g2 = GPT(GPTConfig(vocab_size=50, block_size=32, n_layer=3, n_head=4, n_embd=256, init_std=0.02))
    assert abs(g2.transformer.h[0].attn.c_attn.weight.std().item() - 0.02) < 0.0005  # GPT-2's init
    assert GPTConfig(vocab_size=50).init_std is None  # the default: 1/sqrt(fan_in)
    with pytest.raises(ValueError, match="init_std"):
        GPTConfig(vocab_size=5, init_std=0.0)


def test_overfits_one_batch():
    m = _model(n_layer=2, n_embd=32, block_size=16).train()
    idx = _idx(4, 16, seed=3)
    tgt = _idx(4, 16, seed=4)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(250):
        _, loss = m(idx, tgt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05


def test_generate_repeatable_and_crops_context(device):
    m = _model(device, block_size=8)
    start = torch.zeros(2, 1, dtype=torch.long, device=device)
    a = m.generate(start, 20, generator=torch.Generator().manual_seed(0))
    b = m.generate(start, 20, generator=torch.Generator().manual_seed(0))
    c = m.generate(start, 20, generator=torch.Generator().manual_seed(1))
    assert a.shape == (2, 21) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :1], start)
    assert int(a.min()) >= 0 and int(a.max()) < 11


def test_greedy_generate_matches_argmax_loop():
    m = _model(block_size=8)
    idx = _idx(2, 3)
    out = m.generate(idx, 10, temperature=0)
    ref = idx.clone()
    for _ in range(10):  # brute force: full forward on the last 8 tokens, take the argmax
        logits = m(ref[:, -8:])[0][:, -1]
        ref = torch.cat([ref, logits.argmax(-1, keepdim=True)], 1)
    assert torch.equal(out, ref)


def test_top_k_filter_vs_brute_force():
    z = torch.randn(5, 12, generator=torch.Generator().manual_seed(0))
    for k in (1, 3, 12, 20):
        out = top_k_filter(z, k)
        for r in range(5):
            keep = sorted(range(12), key=lambda i: -z[r, i].item())[:k]
            for i in range(12):
                assert (out[r, i].item() == z[r, i].item()) if i in keep else out[r, i].item() == float("-inf")


def test_top_p_filter_vs_brute_force():
    z = torch.randn(6, 10, generator=torch.Generator().manual_seed(1)) * 2
    for p in (0.05, 0.3, 0.5, 0.9, 0.999, 1.0):
        out = top_p_filter(z, p)
        probs = torch.softmax(z, -1)
        for r in range(6):
            order = sorted(range(10), key=lambda i: -probs[r, i].item())
            keep, total = [], 0.0
            for i in order:  # add tokens from most likely until their mass reaches p
                keep.append(i)
                total += probs[r, i].item()
                if total >= p:
                    break
            for i in range(10):
                assert (out[r, i].item() == z[r, i].item()) if i in keep else out[r, i].item() == float("-inf")


def test_sample_next_token_respects_filters():
    z = torch.tensor([[3.0, 2.0, 1.0, 0.0]]).repeat(500, 1)
    g = torch.Generator().manual_seed(0)
    assert set(sample_next_token(z, top_k=2, generator=g).flatten().tolist()) == {0, 1}
    assert torch.equal(sample_next_token(z, top_k=1), torch.zeros(500, 1, dtype=torch.long))
    assert torch.equal(sample_next_token(z, temperature=0), torch.zeros(500, 1, dtype=torch.long))
    # p(0) ≈ 0.64, p(0)+p(1) ≈ 0.88: top_p=0.8 keeps exactly tokens {0, 1}
    assert set(sample_next_token(z, top_p=0.8, generator=g).flatten().tolist()) == {0, 1}
    # temperature → high flattens the distribution: all four appear
    assert set(sample_next_token(z, temperature=5.0, generator=g).flatten().tolist()) == {0, 1, 2, 3}


def test_clear_errors():
    m = _model(block_size=8)
    with pytest.raises(ValueError, match="block_size"):
        m(_idx(1, 9))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        m(torch.tensor([[0, 11]]))
    with pytest.raises(ValueError, match=r"\[0, 11\)"):
        m(torch.tensor([[-1, 2]]))
    with pytest.raises(TypeError, match="integer"):
        m(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="dimensions"):
        m(torch.zeros(4, dtype=torch.long))
    start = torch.zeros(1, 1, dtype=torch.long)
    for kw in (dict(temperature=-1.0), dict(temperature=float("nan")), dict(top_k=0), dict(top_p=0.0),
               dict(top_p=1.5)):
        with pytest.raises(ValueError):
            m.generate(start, 2, **kw)
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig(vocab_size=5, n_embd=10, n_head=4)


def test_shipped_checkpoint_loads_and_models_shakespeare():
    import json

    import torch.nn.functional as F

    from lmrl_course.data import load_text, train_val_split
    from lmrl_course.gpt import load_pretrained
    from lmrl_course.paths import GPT_CHECKPOINT_INFO_PATH

    model, tok = load_pretrained(device="cpu")
    info = json.loads(GPT_CHECKPOINT_INFO_PATH.read_text())
    assert not model.training
    # the stored config (fields added since, like pos_encoding, take their defaults) is the model's
    assert model.config == GPTConfig(**info["model_config"]) and model.config.pos_encoding == "learned"
    assert model.num_parameters() == info["num_parameters"] <= 5_000_000
    assert info["metrics"]["val_loss"] <= 1.60
    # independent spot check on the first 8 windows of the validation text: far below a bigram model (~2.45)
    text = load_text()
    _, val = train_val_split(torch.tensor(tok.encode(text)))
    T = model.config.block_size
    x = val[: 8 * T].view(8, T)
    y = val[1: 8 * T + 1].view(8, T)
    with torch.no_grad():
        loss = F.cross_entropy(model(x)[0].reshape(-1, tok.vocab_size), y.reshape(-1)).item()
    assert loss < 1.9
    out = model.generate(torch.tensor([tok.encode("ROMEO:")]), 30, generator=torch.Generator().manual_seed(0))
    assert tok.decode(out[0]).startswith("ROMEO:") and len(tok.decode(out[0])) == 36
