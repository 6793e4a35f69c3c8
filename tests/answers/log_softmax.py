"""Answers for the exercise `log_softmax` (notebook 01): see README.md in this folder.

The notebook says: do not call torch.log_softmax, torch.logsumexp or F.log_softmax."""

WRONG = {  # each must FAIL
    "naive: log of exp / sum exp (nan on ±1e4, -inf on -120)": '''def log_softmax(z, dim=-1):
    e = z.exp()
    return (e / e.sum(dim=dim, keepdim=True)).log()
''',
    "log of a stable softmax: no overflow, but exp(-120) underflows to 0 and log(0) = -inf": '''def log_softmax(z, dim=-1):
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    return (e / e.sum(dim=dim, keepdim=True)).log()
''',
    "forgets to subtract the max outside the log: z - log sum exp(z - m)": '''def log_softmax(z, dim=-1):
    m = z.amax(dim=dim, keepdim=True)
    return z - (z - m).exp().sum(dim=dim, keepdim=True).log()
''',
    "sums over every element, not along dim": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum().log()
''',
    "no keepdim=True on the sum: the normaliser does not broadcast back": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim).log()
''',
    "hard-codes the last axis (ignores dim)": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=-1, keepdim=True)
    return shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
''',
    "divides by the log-sum-exp instead of subtracting it": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted / shifted.exp().sum(dim=dim, keepdim=True).log()
''',
    "detaches the normaliser: right values, gradient missing the -softmax term": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log().detach()
''',
    "detaches the output: no gradient at all": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return (shifted - shifted.exp().sum(dim=dim, keepdim=True).log()).detach()
''',
    "in place: subtracts the max from z itself (z -= m)": '''def log_softmax(z, dim=-1):
    z -= z.amax(dim=dim, keepdim=True)
    return z - z.exp().sum(dim=dim, keepdim=True).log()
''',
    "forbidden built-in: F.log_softmax": '''def log_softmax(z, dim=-1):
    return F.log_softmax(z, dim=dim)
''',
    "forbidden built-in: torch.logsumexp": '''def log_softmax(z, dim=-1):
    return z - torch.logsumexp(z, dim=dim, keepdim=True)
''',
    "precision: computes in float32 inside the float64 case, then casts back": '''def log_softmax(z, dim=-1):
    x = z.float()
    shifted = x - x.amax(dim=dim, keepdim=True)
    return (shifted - shifted.exp().sum(dim=dim, keepdim=True).log()).to(z.dtype)
''',
}

VALID = {  # each must PASS
    "m + log sum exp(z - m), subtracted in one go": '''def log_softmax(z, dim=-1):
    m = z.amax(dim=dim, keepdim=True)
    lse = m + torch.log(torch.sum(torch.exp(z - m), dim=dim, keepdim=True))
    return z - lse
''',
    "the shift is detached (it cancels, so the gradient is unchanged)": '''def log_softmax(z, dim=-1):
    m = z.detach().max(dim=dim, keepdim=True).values
    shifted = z - m
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()
''',
    "loop over the rows after moving dim last, stacked back, with a print": '''def log_softmax(z, dim=-1):
    zt = z.movedim(dim, -1)
    rows = []
    for row in zt.reshape(-1, zt.shape[-1]):
        m = row.max()
        rows.append(row - m - (row - m).exp().sum().log())
    print(f"{len(rows)} rows of {zt.shape[-1]} logits")
    return torch.stack(rows).reshape(zt.shape).movedim(-1, dim)
''',
    "log1p of the sum of the other terms (the max contributes exactly 1)": '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - torch.log1p(shifted.exp().sum(dim=dim, keepdim=True) - 1)
''',
}


# ---- more answers, written independently by another engineer (labels kept distinct)
WRONG.update({  # more wrong answers, written independently
    "naive: log(exp(z) / sum exp(z)) overflows": '''def log_softmax(z, dim=-1):
    return (z.exp() / z.exp().sum(dim=dim, keepdim=True)).log()
''',
    "the max and the sum over dim 0 instead of dim": '''def log_softmax(z, dim=-1):
    s = z - z.amax(dim=0, keepdim=True)
    return s - s.exp().sum(dim=0, keepdim=True).log()
''',
    "forgot the log: returns the softmax": '''def log_softmax(z, dim=-1):
    s = z - z.amax(dim=dim, keepdim=True)
    return s.exp() / s.exp().sum(dim=dim, keepdim=True)
''',
    "casts to float32": '''def log_softmax(z, dim=-1):
    return torch.log_softmax(z.float(), dim=dim)
''',
    "rebuilt with torch.tensor: no gradient path": '''def log_softmax(z, dim=-1):
    return torch.tensor(torch.log_softmax(z, dim=dim).tolist(), dtype=z.dtype)
''',
    "forbidden built-in: torch.logsumexp": '''def log_softmax(z, dim=-1):
    return z - torch.logsumexp(z, dim=dim, keepdim=True)
''',
})
VALID.update({  # more valid answers, written independently
    "the max subtracted with a detached max (the shift does not change the value)": '''def log_softmax(z, dim=-1):
    m = z.max(dim=dim, keepdim=True).values.detach()
    return z - m - torch.log(torch.exp(z - m).sum(dim=dim, keepdim=True))
''',
})

WRONG.update({  # reached through a name bound before the check (caught by identity, not by name)
    "F.log_softmax imported under another name": '''from torch.nn.functional import log_softmax as _lsm


def log_softmax(z, dim=-1):
    return _lsm(z, dim)
''',
    "the package's own log_softmax (lmrl_course.losses)": '''from lmrl_course.losses import log_softmax as package_log_softmax


def log_softmax(z, dim=-1):
    return package_log_softmax(z, dim)
''',
})
