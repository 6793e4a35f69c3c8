"""Answers for the exercise `stable_softmax` (notebook 00): see README.md in this folder."""

WRONG = {  # each must FAIL
    "naive: exp without subtracting the max (overflows on ±1e4)": '''def stable_softmax(z, dim=-1):
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    "subtracts the max of the whole tensor, not of each row (a row far below it underflows to 0/0)": '''def stable_softmax(z, dim=-1):
    e = (z - z.max()).exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    "subtracts the mean instead of the max (exp(1e4 - 0) still overflows)": '''def stable_softmax(z, dim=-1):
    e = (z - z.mean(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    "normalises along the last axis whatever dim is": '''def stable_softmax(z, dim=-1):
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=-1, keepdim=True)
''',
    "sum without keepdim=True (does not broadcast back)": '''def stable_softmax(z, dim=-1):
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim)
''',
    "z.max(dim=...) returns (values, indices): subtracting the tuple": '''def stable_softmax(z, dim=-1):
    e = (z - z.max(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    "divides by the max instead of subtracting it": '''def stable_softmax(z, dim=-1):
    e = (z / z.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    "loop into torch.zeros(z.shape): float32 output for a float64 input": '''def stable_softmax(z, dim=-1):
    zt = z.movedim(dim, -1)
    flat = zt.reshape(-1, zt.shape[-1])
    out = torch.zeros(flat.shape)
    for i in range(flat.shape[0]):
        e = (flat[i] - flat[i].max()).exp()
        out[i] = e / e.sum()
    return out.reshape(zt.shape).movedim(-1, dim)
''',
    "precision: computes in float32 inside the float64 case, then casts back": '''def stable_softmax(z, dim=-1):
    x = z.float()
    e = (x - x.amax(dim=dim, keepdim=True)).exp()
    return (e / e.sum(dim=dim, keepdim=True)).to(z.dtype)
''',
    "in place: subtracts the max from z itself": '''def stable_softmax(z, dim=-1):
    z.sub_(z.amax(dim=dim, keepdim=True))
    e = z.exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
    "in place: exponentiates z itself (z.exp_())": '''def stable_softmax(z, dim=-1):
    z -= z.amax(dim=dim, keepdim=True)
    z.exp_()
    return z / z.sum(dim=dim, keepdim=True)
''',
    "detach: the result has no gradient (a softmax used in training must keep it)": '''def stable_softmax(z, dim=-1):
    z = z.detach()
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    return e / e.sum(dim=dim, keepdim=True)
''',
}

VALID = {  # each must PASS
    "log-sum-exp form": '''def stable_softmax(z, dim=-1):
    return (z - torch.logsumexp(z, dim=dim, keepdim=True)).exp()
''',
    "torch.max(...).values, with a print": '''def stable_softmax(z, dim=-1):
    m = torch.max(z, dim=dim, keepdim=True).values
    e = torch.exp(z - m)
    print("softmax over dim", dim, "of a tensor of shape", tuple(z.shape))
    return e / torch.sum(e, dim=dim, keepdim=True)
''',
    "loop over the rows after moving dim last, filled into a fresh tensor of z's dtype": '''def stable_softmax(z, dim=-1):
    zt = z.movedim(dim, -1)
    flat = zt.reshape(-1, zt.shape[-1])
    out = torch.empty_like(flat)
    for i in range(flat.shape[0]):
        e = (flat[i] - flat[i].max()).exp()
        out[i] = e / e.sum()
    return out.reshape(zt.shape).movedim(-1, dim)
''',
    "multiplies by the reciprocal of the sum": '''def stable_softmax(z, dim=-1):
    e = torch.exp(z - z.amax(dim, keepdim=True))
    return e * e.sum(dim, keepdim=True).reciprocal()
''',
    "fresh tensor equal in value: slices unbound and stacked again (keeps the gradient)": '''def stable_softmax(z, dim=-1):
    e = (z - z.amax(dim=dim, keepdim=True)).exp()
    p = e / e.sum(dim=dim, keepdim=True)
    return torch.stack(p.unbind(dim), dim=dim)
''',
}

WRONG.update({  # the built-in reached through a name bound before the check (caught by identity, not by name)
    "torch.softmax imported under another name before the function": '''from torch import softmax as _sm


def stable_softmax(z, dim=-1):
    return _sm(z, dim=dim)
''',
    "the package's own stable_softmax": '''from lmrl_course.exercises.warmup import stable_softmax as _course_softmax


def stable_softmax(z, dim=-1):
    return _course_softmax(z, dim=dim)
''',
})
