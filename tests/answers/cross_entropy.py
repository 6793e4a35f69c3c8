"""Answers for the exercise `cross_entropy` (notebook 01): see README.md in this folder.

The notebook asks for the loss built on the learner's own log_softmax (torch.gather, ignored targets
replaced by 0 before gathering and masked out afterwards). The cell runs on its own here, so answers
that use a log-softmax define it in the same cell."""

_LOG_SOFTMAX = '''def log_softmax(z, dim=-1):
    shifted = z - z.amax(dim=dim, keepdim=True)
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


'''

WRONG = {  # each must FAIL
    "mean over every position: the ignored ones are zeroed but still counted": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).mean()
''',
    "no mask at all: gathers at index -100": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    return -logp.gather(-1, targets.reshape(-1, 1)).mean()
''',
    "clamps the ignored targets to 0 and averages them in as class 0": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    safe = targets.reshape(-1).clamp(min=0)
    return -logp.gather(-1, safe[:, None]).mean()
''',
    "hard-codes -100 instead of using ignore_index": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != -100
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
''',
    "naive log(softmax): nan on ±1e4 logits": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    e = logits.reshape(-1, V).exp()
    logp = (e / e.sum(dim=-1, keepdim=True)).log()
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
''',
    "sum instead of the mean over the kept positions": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum()
''',
    "sign: returns the mean log-probability, not its negative": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    return logp[keep].gather(-1, targets[keep][:, None]).mean()
''',
    "log-softmax over the batch axis (dim=0) instead of the vocabulary": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V), dim=0)
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
''',
    "gathers along the wrong axis (dim=0)": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(0, targets.where(keep, 0)[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
''',
    ".item(): returns a Python float, no gradient": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return ((nll * keep).sum() / keep.sum()).item()
''',
    "in place: writes 0 into the caller's targets where they are ignored": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)          # a view of the caller's tensor
    keep = targets != ignore_index
    targets[~keep] = 0
    nll = -logp.gather(-1, targets[:, None]).squeeze(-1)
    return (nll * keep).sum() / keep.sum()
''',
    "precision: computes in float32 inside the float64 case, then casts back": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V).float())
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    nll = -logp.gather(-1, targets.where(keep, 0)[:, None]).squeeze(-1)
    return ((nll * keep).sum() / keep.sum()).to(logits.dtype)
''',
    "built-in the exercise rebuilds: F.cross_entropy": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=ignore_index)
''',
    "built-in the exercise rebuilds: F.nll_loss on F.log_softmax": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    return F.nll_loss(F.log_softmax(logits.reshape(-1, V), dim=-1), targets.reshape(-1), ignore_index=ignore_index)
''',
}

VALID = {  # each must PASS
    "boolean indexing: keep the rows first, then pick with arange": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logits, targets = logits.reshape(-1, V), targets.reshape(-1)
    keep = targets != ignore_index
    logp = log_softmax(logits[keep])                        # (n_kept, V)
    y = targets[keep]
    return -logp[torch.arange(len(y)), y].mean()
''',
    "one-hot weights instead of gather": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    targets = targets.reshape(-1)
    keep = targets != ignore_index
    onehot = F.one_hot(torch.where(keep, targets, torch.zeros_like(targets)), V).to(logp.dtype)
    onehot = onehot * keep[:, None].to(logp.dtype)           # ignored rows: all zero
    return -(onehot * logp).sum() / keep.sum()
''',
    "log-sum-exp minus the target logit, no log-softmax table": '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    z, y = logits.reshape(-1, V), targets.reshape(-1)
    keep = y != ignore_index
    z, y = z[keep], y[keep]
    m = z.amax(dim=-1)
    lse = m + (z - m[:, None]).exp().sum(dim=-1).log()      # log sum_j exp(z_j), (n_kept,)
    return (lse - z.gather(-1, y[:, None]).squeeze(-1)).mean()
''',
    "a loop over positions, with a print": _LOG_SOFTMAX + '''def cross_entropy(logits, targets, ignore_index=-100):
    V = logits.shape[-1]
    logp = log_softmax(logits.reshape(-1, V))
    total, count = 0.0, 0
    for n, y in enumerate(targets.reshape(-1).tolist()):
        if y == ignore_index:
            continue
        total = total - logp[n, y]
        count += 1
    print(f"{count} positions counted")
    return total / count
''',
}


# ---- more answers, written independently by another engineer (labels kept distinct)
WRONG.update({  # more wrong answers, written independently
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
    "forbidden built-in: torch's F.cross_entropy with the same ignore_index": '''def cross_entropy(logits, targets, ignore_index=-100):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index)
''',
})
VALID.update({  # more valid answers, written independently
    "boolean indexing of the kept rows, logsumexp": '''def cross_entropy(logits, targets, ignore_index=-100):
    z = logits.reshape(-1, logits.shape[-1])
    y = targets.reshape(-1)
    keep = y != ignore_index
    z, y = z[keep], y[keep]
    return (torch.logsumexp(z, dim=-1) - z[torch.arange(len(y)), y]).mean()
''',
})

WRONG.update({  # reached through a name bound before the check (caught by identity, not by name)
    "F.cross_entropy imported under another name": '''from torch.nn.functional import cross_entropy as _fce


def cross_entropy(logits, targets, ignore_index=-100):
    return _fce(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=ignore_index)
''',
})
