WRONG = {
    "padding counted": '''def sequence_logprob(token_logp, mask):
    return token_logp.sum(dim=1)
''',
    "mean over real tokens instead of the sum": '''def sequence_logprob(token_logp, mask):
    m = mask.to(token_logp.dtype)
    return (token_logp * m).sum(dim=1) / m.sum(dim=1)
''',
    "summed over the batch dimension": '''def sequence_logprob(token_logp, mask):
    return token_logp.masked_fill(~mask, 0.0).sum(dim=0)
''',
    "the mask inverted": '''def sequence_logprob(token_logp, mask):
    return token_logp.masked_fill(mask, 0.0).sum(dim=1)
''',
}
VALID = {
    "multiply by the mask": '''def sequence_logprob(token_logp, mask):
    return (token_logp * mask.to(token_logp.dtype)).sum(dim=1)
''',
    "torch.where": '''def sequence_logprob(token_logp, mask):
    return torch.where(mask, token_logp, torch.zeros_like(token_logp)).sum(-1)
''',
}
