_BODY = '''def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = params.get
    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    y = ATTENTION
    y = y.transpose(1, 2).reshape(B, T, C)
    RESIDUAL_1
    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    h = GELU(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")))
    return x + F.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))
'''


def _variant(attention="F.scaled_dot_product_attention(q, k, v, is_causal=True)",
             residual="x = x + F.linear(y, p(\"attn.c_proj.weight\"), p(\"attn.c_proj.bias\"))", gelu="F.gelu"):
    return _BODY.replace("ATTENTION", attention).replace("RESIDUAL_1", residual).replace("GELU", gelu)


WRONG = {
    "no causal mask: every position reads the future":
        _variant(attention="F.scaled_dot_product_attention(q, k, v)"),
    "scores divided by hs instead of sqrt(hs)":
        _variant(attention="torch.softmax((q @ k.transpose(-2, -1) / q.shape[-1]).masked_fill("
                           "torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf')), dim=-1) @ v"),
    "post-LN: the attention output replaces the stream instead of being added to it":
        _variant(residual="x = F.linear(y, p(\"attn.c_proj.weight\"), p(\"attn.c_proj.bias\"))"),
    "the tanh approximation of GELU (nn.GELU() is the exact erf form)":
        _variant(gelu="(lambda t: F.gelu(t, approximate='tanh'))"),
    "heads made with view(B, n_head, T, hs): mixes positions and channels": '''def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = params.get
    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.reshape(B, n_head, T, C // n_head) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).reshape(B, T, C)
    x = x + F.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))
    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    return x + F.linear(F.gelu(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"))), p("mlp.c_proj.weight"),
                        p("mlp.c_proj.bias"))
''',
    "the MLP reads LN_2 of the block's input x, not of the updated stream a": '''def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = params.get
    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, T, C)
    a = x + F.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))
    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    return a + F.linear(F.gelu(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias"))), p("mlp.c_proj.weight"),
                        p("mlp.c_proj.bias"))
''',
}
VALID = {
    "attention written out with matmuls, a tril mask and einsum heads": '''def transformer_block(x, params, n_head):
    B, T, C = x.shape
    hs = C // n_head

    def linear(t, name):
        out = t @ params[name + ".weight"].T
        b = params.get(name + ".bias")
        return out if b is None else out + b

    h = layer_norm(x, params["ln_1.weight"], params.get("ln_1.bias"))
    qkv = linear(h, "attn.c_attn").view(B, T, 3, n_head, hs)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]                # (B, T, H, hs)
    scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hs)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    w = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    y = torch.einsum("bhts,bshd->bthd", w, v).reshape(B, T, C)
    a = x + linear(y, "attn.c_proj")
    h = layer_norm(a, params["ln_2.weight"], params.get("ln_2.bias"))
    g = 0.5 * linear(h, "mlp.c_fc") * (1 + torch.erf(linear(h, "mlp.c_fc") / math.sqrt(2)))
    return a + linear(g, "mlp.c_proj")
''',
    "torch modules built from the params (nn.Linear, nn.GELU), one head at a time, with the weights applied through torch.func.functional_call (differentiable in params)": '''def transformer_block(x, params, n_head):
    B, T, C = x.shape
    hs = C // n_head

    def lin(name, fan_in, fan_out):
        has_bias = params.get(name + ".bias") is not None
        layer = nn.Linear(fan_in, fan_out, bias=has_bias).to(x.dtype)
        weights = {"weight": params[name + ".weight"]}
        if has_bias:
            weights["bias"] = params[name + ".bias"]
        return lambda t: torch.func.functional_call(layer, weights, (t,))   # params' own tensors: differentiable

    c_attn, c_proj = lin("attn.c_attn", C, 3 * C), lin("attn.c_proj", C, C)
    c_fc, mlp_proj = lin("mlp.c_fc", C, 4 * C), lin("mlp.c_proj", 4 * C, C)
    q, k, v = c_attn(layer_norm(x, params["ln_1.weight"], params.get("ln_1.bias"))).split(C, dim=-1)
    heads = []
    for i in range(n_head):
        sl = slice(i * hs, (i + 1) * hs)
        att = (q[..., sl] @ k[..., sl].transpose(1, 2)) / hs ** 0.5
        att = att + torch.full((T, T), float("-inf")).triu(1)
        heads.append(att.softmax(-1) @ v[..., sl])
    x = x + c_proj(torch.cat(heads, dim=-1))
    return x + mlp_proj(nn.GELU()(c_fc(layer_norm(x, params["ln_2.weight"], params.get("ln_2.bias")))))
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['the weights detached (params.get(name).detach()): right values, but train_step gets no gradient for them'] = '''import torch
import torch.nn.functional as F


def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = lambda name: None if params.get(name) is None else params.get(name).detach()                                    # None for a missing bias

    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))                  # (B, T, C)
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))   # (B, H, T, hs)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)         # (B, H, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)                               # (B, T, C)
    x = x + F.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))  # a = x + Attn(LN1(x))

    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    h = F.gelu(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")))   # (B, T, 4C)
    return x + F.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))  # y = a + MLP(LN2(a))
'''
WRONG['nn.Linear modules with the weights copied in under no_grad (weight.copy_): right values, but no gradient reaches params, so train_step cannot differentiate through it'] = '''def transformer_block(x, params, n_head):
    B, T, C = x.shape
    hs = C // n_head

    def lin(name, fan_in, fan_out):
        layer = nn.Linear(fan_in, fan_out, bias=params.get(name + ".bias") is not None).to(x.dtype)
        with torch.no_grad():
            layer.weight.copy_(params[name + ".weight"])
            if layer.bias is not None:
                layer.bias.copy_(params[name + ".bias"])
        return layer

    c_attn, c_proj = lin("attn.c_attn", C, 3 * C), lin("attn.c_proj", C, C)
    c_fc, mlp_proj = lin("mlp.c_fc", C, 4 * C), lin("mlp.c_proj", 4 * C, C)
    q, k, v = c_attn(layer_norm(x, params["ln_1.weight"], params.get("ln_1.bias"))).split(C, dim=-1)
    heads = []
    for i in range(n_head):
        sl = slice(i * hs, (i + 1) * hs)
        att = (q[..., sl] @ k[..., sl].transpose(1, 2)) / hs ** 0.5
        att = att + torch.full((T, T), float("-inf")).triu(1)
        heads.append(att.softmax(-1) @ v[..., sl])
    x = x + c_proj(torch.cat(heads, dim=-1))
    return x + mlp_proj(nn.GELU()(c_fc(layer_norm(x, params["ln_2.weight"], params.get("ln_2.bias")))))
'''
VALID['by hand: matmuls, explicit erf GELU, var(unbiased=False), -inf mask'] = '''import math
import torch
import torch.nn.functional as F


def transformer_block(x, params, n_head):
    B, T, C = x.shape
    g = params.get
    def lin(t, name):
        out = t @ params[name + ".weight"].T
        return out if g(name + ".bias") is None else out + params[name + ".bias"]
    def ln(t, name):
        mu = t.mean(-1, keepdim=True); var = t.var(-1, unbiased=False, keepdim=True)
        out = (t - mu) / torch.sqrt(var + 1e-5) * params[name + ".weight"]
        return out if g(name + ".bias") is None else out + params[name + ".bias"]
    q, k, v = lin(ln(x, "ln_1"), "attn.c_attn").chunk(3, dim=-1)
    hs = C // n_head
    q, k, v = (t.reshape(B, T, n_head, hs).permute(0, 2, 1, 3) for t in (q, k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(hs)
    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    y = (s.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(B, T, C)
    a = x + lin(y, "attn.c_proj")
    m = lin(ln(a, "ln_2"), "mlp.c_fc")
    m = 0.5 * m * (1 + torch.erf(m / math.sqrt(2)))
    return a + lin(m, "mlp.c_proj")
'''
WRONG['attention computed in float32 and cast back (.float() ... .to(x.dtype)): float64 precision lost'] = '''import torch
import torch.nn.functional as F


def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = lambda name: params.get(name)                                    # None for a missing bias

    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))                  # (B, T, C)
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))   # (B, H, T, hs)
    y = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True).to(x.dtype)         # (B, H, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)                               # (B, T, C)
    x = x + F.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))  # a = x + Attn(LN1(x))

    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    h = F.gelu(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")))   # (B, T, 4C)
    return x + F.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))  # y = a + MLP(LN2(a))
'''
WRONG['right values but 1.5x the gradient in every weight (w + 0.5 (w - w.detach())): guards the comparison of the weights\' gradients'] = '''import torch
import torch.nn.functional as F


def transformer_block(x, params, n_head):
    B, T, C = x.shape
    p = lambda name: None if params.get(name) is None else params.get(name) + 0.5 * (params.get(name) - params.get(name).detach())                                    # None for a missing bias

    h = layer_norm(x, p("ln_1.weight"), p("ln_1.bias"))                  # (B, T, C)
    q, k, v = F.linear(h, p("attn.c_attn.weight"), p("attn.c_attn.bias")).split(C, dim=-1)
    q, k, v = (t.view(B, T, n_head, C // n_head).transpose(1, 2) for t in (q, k, v))   # (B, H, T, hs)
    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)         # (B, H, T, hs)
    y = y.transpose(1, 2).reshape(B, T, C)                               # (B, T, C)
    x = x + F.linear(y, p("attn.c_proj.weight"), p("attn.c_proj.bias"))  # a = x + Attn(LN1(x))

    h = layer_norm(x, p("ln_2.weight"), p("ln_2.bias"))
    h = F.gelu(F.linear(h, p("mlp.c_fc.weight"), p("mlp.c_fc.bias")))   # (B, T, 4C)
    return x + F.linear(h, p("mlp.c_proj.weight"), p("mlp.c_proj.bias"))  # y = a + MLP(LN2(a))
'''

WRONG["the package's Block through torch.func.functional_call: right values, but the package does the work"] = '''def transformer_block(x, params, n_head):
    from lmrl_course.gpt import Block, GPTConfig
    C = x.shape[-1]
    cfg = GPTConfig(vocab_size=1, block_size=x.shape[-2], n_embd=C, n_head=n_head, n_layer=1, bias="ln_1.bias" in params)
    block = Block(cfg).to(dtype=x.dtype)
    return torch.func.functional_call(block, dict(params), (x,))
'''
