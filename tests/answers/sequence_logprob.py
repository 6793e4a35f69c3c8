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

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['log of the product of the probabilities: underflows to log(0) = -inf for a long response'] = '''def sequence_logprob(token_logp, mask):
    return torch.log(torch.where(mask, token_logp.exp(), torch.ones_like(token_logp)).prod(1))
'''
VALID['a Python loop over the positions'] = '''def sequence_logprob(token_logp, mask):
    B, N = token_logp.shape
    total = torch.zeros(B, dtype=token_logp.dtype)
    for t in range(N):
        total = total + torch.where(mask[:, t], token_logp[:, t], torch.zeros_like(total))
    return total
'''
