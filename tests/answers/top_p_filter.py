_BODY = '''def top_p_filter(logits, p):
    s, order = torch.sort(logits, dim=-1, descending=DESC)
    pr = PROBS
    drop_s = DROP
    drop = UNSORT
    return logits.masked_fill(drop, FILL)
'''
_DEFAULTS = dict(DESC="True", PROBS="torch.softmax(s, -1)", DROP="pr.cumsum(-1) - pr >= p",
                 UNSORT="torch.zeros_like(drop_s).scatter(-1, order, drop_s)", FILL='float("-inf")')


def _variant(**changes):
    src = _BODY
    for key, value in {**_DEFAULTS, **changes}.items():
        src = src.replace(key, value)
    return src


WRONG = {
    "drops the token whose cumulative probability crosses p": _variant(DROP="pr.cumsum(-1) > p"),
    "the mask left in sorted order": _variant(UNSORT="drop_s"),
    "fills with 0 instead of -inf": _variant(FILL="0.0"),
    "cumulative sum of the logits, not of the probabilities": _variant(PROBS="s"),
    "sorted ascending": _variant(DESC="False"),
}
VALID = {
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
}
