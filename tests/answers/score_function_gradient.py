"""Answers for the score_function_gradient exercise (notebook 04): ĝ = 1/n Σ_i r_i (onehot(a_i) − softmax(z))."""

WRONG = {  # each must FAIL
    "sums over the samples instead of averaging": '''def score_function_gradient(logits, actions, rewards):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return (rewards.to(logits.dtype)[:, None] * (onehot - torch.softmax(logits, -1))).sum(0)
''',
    "sign flipped: softmax(z) − onehot(a), the gradient of the loss": '''def score_function_gradient(logits, actions, rewards):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return (rewards.to(logits.dtype)[:, None] * (torch.softmax(logits, -1) - onehot)).mean(0)
''',
    "drops the −softmax(z) term of the score": '''def score_function_gradient(logits, actions, rewards):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return (rewards.to(logits.dtype)[:, None] * onehot).mean(0)
''',
    "the log dropped: weights each sample by π(a), the gradient of mean r·π(a)": '''def score_function_gradient(logits, actions, rewards):
    p = torch.softmax(logits, -1)
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return ((rewards.to(logits.dtype) * p[actions])[:, None] * (onehot - p)).mean(0)
''',
    "naive softmax exp(z)/Σexp(z): inf/inf = nan for logits of 120": '''def score_function_gradient(logits, actions, rewards):
    e = logits.exp()
    p = e / e.sum()
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return (rewards.to(logits.dtype)[:, None] * (onehot - p)).mean(0)
''',
}

VALID = {  # each must PASS
    "autograd of the surrogate mean r·log π(a)": '''def score_function_gradient(logits, actions, rewards):
    z = logits.detach().clone().requires_grad_(True)
    surrogate = (rewards.to(z.dtype) * torch.log_softmax(z, -1)[actions]).mean()
    g, = torch.autograd.grad(surrogate, z)
    return g
''',
    "counts per arm: (Σ_i r_i onehot(a_i) − softmax(z) Σ_i r_i) / n with index_add_": '''def score_function_gradient(logits, actions, rewards):
    r = rewards.to(logits.dtype)
    per_arm = torch.zeros_like(logits).index_add_(0, actions, r)
    return (per_arm - torch.softmax(logits, -1) * r.sum()) / actions.shape[0]
''',
}
