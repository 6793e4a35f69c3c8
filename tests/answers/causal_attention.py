"""Answers for the exercise `causal_attention` (notebook 02): see README.md in this folder.

The notebook says: written out, no F.scaled_dot_product_attention; the checker compares gradients."""

WRONG = {  # each must FAIL
    "no scaling by 1/sqrt(d_k)": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "divides by d_k, not sqrt(d_k)": '''def causal_attention(q, k, v):
    T, d = q.shape[-2], q.shape[-1]
    scores = q @ k.transpose(-2, -1) / d
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "mask the wrong way round: fills -inf where the tril mask is True": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
''',
    "future instead of past: keeps the upper triangle (triu)": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "strict mask (tril(diagonal=-1)): a query may not read its own key, row 0 is 0/0": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "softmax over the queries (dim=-2) instead of the keys": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-2) @ v
''',
    "d_k taken from v (wrong when the values have another width)": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "scores transposed: K Q^T (row = key, column = query)": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = k @ q.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "masks by multiplying the scores by 0 (exp(0) = 1 still gets weight)": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=scores.dtype))
    return torch.softmax(scores * mask, dim=-1) @ v
''',
    "masks after the softmax without renormalising": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0) @ v
''',
    "T = q.shape[1]: the number of heads when the input is (B, H, T, hs)": '''def causal_attention(q, k, v):
    T = q.shape[1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "k.T on a batched tensor: reverses every axis, not the last two": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.T / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "k.transpose(1, 2): the last two axes only when the input is 3-d": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "in place: scales q itself (q /= sqrt(d_k))": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    q /= math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v
''',
    "detaches the attention weights: no gradient into q and k": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1).detach() @ v
''',
    "forbidden built-in: F.scaled_dot_product_attention": '''def causal_attention(q, k, v):
    return F.scaled_dot_product_attention(q, k, v, is_causal=True)
''',
    "precision: computes in float32 inside the float64 case, then casts back": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = q.float() @ k.float().transpose(-2, -1) / math.sqrt(q.shape[-1])
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    out = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v.float()
    return out.to(q.dtype)
''',
}

VALID = {  # each must PASS
    "additive mask: 0 on and below the diagonal, -inf above (triu(1))": '''def causal_attention(q, k, v):
    T, d_k = q.shape[-2], q.shape[-1]
    bias = torch.full((T, T), float("-inf"), dtype=q.dtype, device=q.device).triu(1)
    weights = torch.softmax(q @ k.transpose(-2, -1) / d_k ** 0.5 + bias, dim=-1)
    return weights @ v
''',
    "einsum, queries scaled first, mask from comparing positions": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    pos = torch.arange(T, device=q.device)
    allowed = pos[None, :] <= pos[:, None]                       # (T, T): key s <= query t
    scores = torch.einsum("...td,...sd->...ts", q * q.shape[-1] ** -0.5, k)
    weights = torch.where(allowed, scores, torch.full_like(scores, -math.inf)).softmax(dim=-1)
    return torch.einsum("...ts,...sh->...th", weights, v)
''',
    "a loop over query positions, each reading only keys 0..t, with a print": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    outs = []
    for t in range(T):
        s = q[..., t:t + 1, :] @ k[..., : t + 1, :].transpose(-2, -1) / math.sqrt(q.shape[-1])   # (..., 1, t+1)
        outs.append(torch.softmax(s, dim=-1) @ v[..., : t + 1, :])                             # (..., 1, hv)
    print("attended over", T, "positions")
    return torch.cat(outs, dim=-2)
''',
    "stable softmax written out by hand, mask via masked_fill on a fresh tensor": '''def causal_attention(q, k, v):
    T = q.shape[-2]
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(diagonal=1)
    scores = scores.masked_fill(future, float("-inf"))
    e = (scores - scores.amax(dim=-1, keepdim=True)).exp()
    return (e / e.sum(dim=-1, keepdim=True)) @ v
''',
}

WRONG.update({  # reached through a name bound before the check (caught by identity, not by name)
    "F.scaled_dot_product_attention imported under another name": '''from torch.nn.functional import scaled_dot_product_attention as _sdpa


def causal_attention(q, k, v):
    return _sdpa(q, k, v, is_causal=True)
''',
    "the package's own causal_attention": '''from lmrl_course.exercises.lm import causal_attention as _course_attention


def causal_attention(q, k, v):
    return _course_attention(q, k, v)
''',
})
