"""Answers for the exercise `top_p_filter` (notebook 03): see README.md in this folder."""

import runpy
from pathlib import Path

WRONG = {  # each must FAIL
    "drops the token that crosses p (keeps cumsum < p: the set can sum to less than p, even be empty)": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop_sorted = cum >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
    "drops the crossing token but forces rank 0 to stay": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop_sorted = cum > p
    drop_sorted[..., 0] = False
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
    "mask left in sorted order, applied to the unsorted logits": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop_sorted, float("-inf"))
''',
    "puts the mask back with gather(order) instead of the inverse permutation": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop_sorted.gather(-1, order), float("-inf"))
''',
    "returns the filtered logits in sorted order": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    return sorted_logits.masked_fill(probs.cumsum(dim=-1) - probs >= p, float("-inf"))
''',
    "sorts ascending: keeps the least likely tokens": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
    "cumulative sum of the logits, not of the probabilities": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    drop_sorted = sorted_logits.cumsum(dim=-1) - sorted_logits >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
    "softmax over the batch axis (dim=0)": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=0)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
''',
    "sets the dropped logits to 0 instead of -inf": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, 0.0)
''',
    "returns the filtered probabilities instead of logits": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return torch.softmax(logits, dim=-1).masked_fill(drop, 0.0)
''',
    "top-k in disguise: keeps the int(p * V) most likely tokens": '''def top_p_filter(logits, p):
    k = max(1, int(p * logits.shape[-1]))
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))
''',
    "in place: masked_fill_ on the caller's logits": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop_sorted = probs.cumsum(dim=-1) - probs >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill_(drop, float("-inf"))
''',
}

VALID = {  # each must PASS
    "ascending sort: drop while the cumulative mass of the least likely is <= 1 - p": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1)                  # ascending
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop_sorted = cum <= 1 - p
    drop_sorted[..., -1] = False                                        # the most likely always stays
    drop = drop_sorted.scatter(-1, order, drop_sorted)
    return torch.where(drop, torch.full_like(logits, float("-inf")), logits)
''',
    "threshold: keep every logit at least as large as the last kept one": '''def top_p_filter(logits, p):
    sorted_logits, _ = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    n_keep = ((probs.cumsum(dim=-1) - probs) < p).sum(dim=-1, keepdim=True)   # >= 1
    threshold = sorted_logits.gather(-1, n_keep - 1)                          # smallest kept logit
    return logits.masked_fill(logits < threshold, float("-inf"))
''',
    "inverse permutation with argsort, mass before by a shifted cumsum": '''def top_p_filter(logits, p):
    order = logits.argsort(dim=-1, descending=True)
    probs = torch.softmax(logits.gather(-1, order), dim=-1)
    before = torch.cat([torch.zeros_like(probs[..., :1]), probs.cumsum(dim=-1)[..., :-1]], dim=-1)
    keep = (before < p).gather(-1, order.argsort(dim=-1))                     # back to vocabulary order
    return logits.masked_fill(~keep, float("-inf"))
''',
    "Hugging Face style: cumsum > p, shifted right by one so the crossing token stays": '''def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum > p
    remove[..., 1:] = remove[..., :-1].clone()
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))
''',
    "a loop over the rows, with a print": '''def top_p_filter(logits, p):
    flat = logits.reshape(-1, logits.shape[-1])
    out = torch.full_like(flat, float("-inf"))
    for i, row in enumerate(flat):
        probs = torch.softmax(row, dim=-1)
        mass = 0.0
        for j in torch.argsort(row, descending=True).tolist():
            out[i, j] = row[j]
            mass += probs[j].item()
            if mass >= p:
                break
    print(f"kept {int(torch.isfinite(out).sum())} of {out.numel()} logits")
    return out.reshape(logits.shape)
''',
}


# ---- more answers, written independently by another engineer (labels kept distinct)
_BODY = '''def top_p_filter(logits, p):
    s, order = torch.sort(logits, dim=-1, descending=DESC)
    pr = PROBS
    drop_s = DROP
    drop = UNSORT
    return logits.masked_fill(drop, FILL)
'''
_DEFAULTS = dict(DESC="True", PROBS="torch.softmax(s, -1)", DROP="pr.cumsum(-1) - pr >= p",
                 UNSORT="torch.zeros_like(drop_s).scatter(-1, order, drop_s)", FILL='float("-inf")')


_fill = runpy.run_path(str(Path(__file__).with_name("_template.py")))["variant"]   # the shared hole-filler


def _variant(**changes):
    return _fill(_BODY, _DEFAULTS, **changes)


WRONG.update({  # more wrong answers, written independently
    "drops the token whose cumulative probability crosses p": _variant(DROP="pr.cumsum(-1) > p"),
    "the mask left in sorted order": _variant(UNSORT="drop_s"),
    "fills with 0 instead of -inf": _variant(FILL="0.0"),
    "cumulative sum of the logits, not of the probabilities (2)": _variant(PROBS="s"),
    "sorted ascending": _variant(DESC="False"),
})
VALID.update({  # more valid answers, written independently
    "gather the threshold logit back instead of scattering the mask": '''def top_p_filter(logits, p):
    s, _ = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(s, dim=-1)
    before = probs.cumsum(-1) - probs
    n_keep = (before < p).sum(-1, keepdim=True)                 # at least 1
    threshold = s.gather(-1, n_keep - 1)                        # the smallest kept logit
    return logits.masked_fill(logits < threshold, float("-inf"))
''',
    "argsort of the probabilities and an inverse permutation": '''def top_p_filter(logits, p):
    probs = torch.softmax(logits, dim=-1)
    order = probs.argsort(dim=-1, descending=True)
    sorted_probs = probs.gather(-1, order)
    keep_sorted = (sorted_probs.cumsum(-1) - sorted_probs) < p
    inverse = order.argsort(dim=-1)
    keep = keep_sorted.gather(-1, inverse)
    return torch.where(keep, logits, torch.full_like(logits, float("-inf")))
''',
})

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['softmax as exp / sum without the max: overflows at large logits (a low temperature)'] = '''import torch


def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)   # (..., V)
    probs = sorted_logits.exp() / sorted_logits.exp().sum(-1, keepdim=True)
    mass_before = probs.cumsum(dim=-1) - probs       # probability of the tokens ranked above
    drop_sorted = mass_before >= p                    # rank 0 has mass_before = 0 < p: always kept
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)   # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))
'''
WRONG['softmax after subtracting the min: -inf logits (after top-k) give inf − inf'] = '''import torch


def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)   # (..., V)
    probs = torch.softmax(sorted_logits - sorted_logits.amin(-1, keepdim=True), dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs       # probability of the tokens ranked above
    drop_sorted = mass_before >= p                    # rank 0 has mass_before = 0 < p: always kept
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)   # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))
'''
