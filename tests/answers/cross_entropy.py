WRONG = {
    "ignores nothing: -100 targets clamped to class 0 and counted": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1).clamp(min=0))
''',
    "divides by every position, the ignored ones included": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)
    keep = targets != ignore_index
    nll = -torch.log_softmax(logits, -1).gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / len(targets)
''',
    "the sum, not the mean": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=ignore_index, reduction="sum")
''',
    "ignore_index hard-coded to -100": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100)
''',
    "naive softmax: overflows on huge logits": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)
    keep = targets != ignore_index
    logp = (logits.exp() / logits.exp().sum(-1, keepdim=True)).log()
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
''',
}
VALID = {
    "torch's F.cross_entropy with the same ignore_index": '''def cross_entropy(logits, targets, ignore_index=-100):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index)
''',
    "boolean indexing of the kept rows, logsumexp": '''def cross_entropy(logits, targets, ignore_index=-100):
    z = logits.reshape(-1, logits.shape[-1])
    y = targets.reshape(-1)
    keep = y != ignore_index
    z, y = z[keep], y[keep]
    return (torch.logsumexp(z, dim=-1) - z[torch.arange(len(y)), y]).mean()
''',
}
