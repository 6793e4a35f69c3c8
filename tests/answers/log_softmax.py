WRONG = {
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
}
VALID = {
    "torch.logsumexp": '''def log_softmax(z, dim=-1):
    return z - torch.logsumexp(z, dim=dim, keepdim=True)
''',
    "the max subtracted with a detached max (the shift does not change the value)": '''def log_softmax(z, dim=-1):
    m = z.max(dim=dim, keepdim=True).values.detach()
    return z - m - torch.log(torch.exp(z - m).sum(dim=dim, keepdim=True))
''',
}
