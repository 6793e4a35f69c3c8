"""Answers for the ``lstm_cell`` exercise (notebook 02b); see README.md in this folder."""

WRONG = {  # each must FAIL
    "gate order i, g, f, o instead of PyTorch's i, f, g, o": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, g, f, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c
''',
    "tanh and sigmoid swapped (sigmoid candidate, tanh gates)": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.tanh(i), torch.tanh(f), torch.sigmoid(g), torch.tanh(o)
    c = f * c + i * g
    return o * torch.tanh(c), c
''',
    "the forget gate does not see x (the seed's blind gate)": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[-1]
    from_x = x @ W_ih.T
    from_h = h @ W_hh.T + b_ih + b_hh
    i, f, g, o = (from_x + from_h).chunk(4, dim=-1)
    f = from_h[..., H:2 * H]
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c
''',
    "h = o * c: the tanh of the new cell state is missing": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * c, c
''',
    "returns (c, h) instead of (h, c)": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return c, o * torch.tanh(c)
''',
    "gates read as interleaved per unit (row 4j + k) instead of stacked in blocks of H rows": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[-1]
    Wi = W_ih.reshape(H, 4, -1).transpose(0, 1).reshape(4 * H, -1)
    Wh = W_hh.reshape(H, 4, -1).transpose(0, 1).reshape(4 * H, -1)
    gates = x @ Wi.T + b_ih + h @ Wh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c
''',
    "sigmoid written as 1 / (1 + exp(-z)): exp overflows on saturated gates, the gradient is nan": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)
    sig = lambda z: 1 / (1 + torch.exp(-z))
    c = sig(f) * c + sig(i) * torch.tanh(g)
    return sig(o) * torch.tanh(c), c
''',
}

VALID = {  # each must PASS
    "one matrix product on [x, h] with [W_ih, W_hh] side by side": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    xh = torch.cat([x, h], dim=-1)                        # (B, D + H)
    W = torch.cat([W_ih, W_hh], dim=1)                    # (4H, D + H)
    gates = F.linear(xh, W, b_ih + b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c
''',
    "gate by gate, slicing the rows of the weights": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    H = h.shape[-1]

    def pre(k):                                           # pre-activation of gate k (0=i, 1=f, 2=g, 3=o)
        rows = slice(k * H, (k + 1) * H)
        return F.linear(x, W_ih[rows], b_ih[rows]) + F.linear(h, W_hh[rows], b_hh[rows])

    i, f, o = torch.sigmoid(pre(0)), torch.sigmoid(pre(1)), torch.sigmoid(pre(3))
    g = torch.tanh(pre(2))
    c_new = torch.addcmul(i * g, f, c)
    return o * torch.tanh(c_new), c_new
''',
    "einsum, gates unbound from a (4, H) view, tanh written as 2σ(2z) − 1": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    gates = torch.einsum("...d,gd->...g", x, W_ih) + torch.einsum("...k,gk->...g", h, W_hh) + b_ih + b_hh
    i, f, g, o = gates.unflatten(-1, (4, -1)).unbind(-2)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * (2 * torch.sigmoid(2 * g) - 1)
    return torch.sigmoid(o) * torch.tanh(c), c
''',

}

WRONG.update({
    "torch.lstm_cell, the kernel nn.LSTMCell runs": '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    if x.dim() == 1:
        h1, c1 = torch.lstm_cell(x[None], (h[None], c[None]), W_ih, W_hh, b_ih, b_hh)
        return h1[0], c1[0]
    return torch.lstm_cell(x, (h, c), W_ih, W_hh, b_ih, b_hh)
''',
})
WRONG["the new cell state returned detached: h is right and differentiable, c_t carries no gradient"] = '''def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c_new), c_new.detach()
'''
