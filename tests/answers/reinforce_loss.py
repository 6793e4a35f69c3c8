"""Answers for the exercise `reinforce_loss` (notebook 05): see README.md in this folder.

The checker compares the gradients with respect to both logp and advantages (the latter must be 0)."""

WRONG = {  # each must FAIL
    "sign: +mean(logp · Â) is gradient descent on J": '''def reinforce_loss(logp, advantages):
    return (logp * advantages.detach()).mean()
''',
    "sum instead of mean: the step grows with the batch": '''def reinforce_loss(logp, advantages):
    return -(logp * advantages.detach()).sum()
''',
    "no detach: the gradient flows into the advantages (the baseline)": '''def reinforce_loss(logp, advantages):
    return -(logp * advantages).mean()
''',
    ".item(): a Python float, no gradient": '''def reinforce_loss(logp, advantages):
    return -(logp * advantages.detach()).mean().item()
''',
    "detaches logp too: no gradient at all": '''def reinforce_loss(logp, advantages):
    return -(logp.detach() * advantages.detach()).mean()
''',
    "mean over the last axis only: a (B,) loss for (B, T) input": '''def reinforce_loss(logp, advantages):
    return -(logp * advantages.detach()).mean(dim=-1)
''',
    "sums over time, averages over the batch only (divides by shape[0])": '''def reinforce_loss(logp, advantages):
    return -(logp * advantages.detach()).sum() / logp.shape[0]
''',
    "weights probabilities instead of log-probabilities": '''def reinforce_loss(logp, advantages):
    return -(logp.exp() * advantages.detach()).mean()
''',
    "normalises the advantages inside the loss": '''def reinforce_loss(logp, advantages):
    a = advantages.detach()
    a = (a - a.mean()) / (a.std(correction=0) + 1e-8)
    return -(logp * a).mean()
''',
    "in place: multiplies logp by the advantages in place": '''def reinforce_loss(logp, advantages):
    logp.mul_(advantages.detach())
    return -logp.mean()
''',
    "precision: computes in float32 inside the float64 case, then casts back": '''def reinforce_loss(logp, advantages):
    return -(logp.float() * advantages.detach().float()).mean().to(logp.dtype)
''',
}

VALID = {  # each must PASS
    "advantages copied under no_grad": '''def reinforce_loss(logp, advantages):
    with torch.no_grad():
        weights = advantages.clone()
    return -torch.mean(logp * weights)
''',
    "sum divided by the number of elements": '''def reinforce_loss(logp, advantages):
    return -(logp * advantages.detach()).sum() / logp.numel()
''',
    "a dot product of the flattened tensors": '''def reinforce_loss(logp, advantages):
    return -torch.dot(logp.reshape(-1), advantages.detach().reshape(-1)) / logp.numel()
''',
    "a loop over the samples, with a print": '''def reinforce_loss(logp, advantages):
    total = torch.zeros((), dtype=logp.dtype)
    for lp, a in zip(logp.reshape(-1), advantages.reshape(-1).tolist()):
        total = total - lp * a
    print(f"{logp.numel()} samples")
    return total / logp.numel()
''',
}
