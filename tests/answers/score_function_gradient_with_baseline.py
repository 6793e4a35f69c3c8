"""Answers for score_function_gradient_with_baseline (notebook 04): ĝ_b = 1/n Σ_i (r_i − b)(onehot(a_i) − softmax(z))."""

WRONG = {  # each must FAIL
    "baseline subtracted from the gradient instead of from the rewards": '''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return (rewards.to(logits.dtype)[:, None] * (onehot - torch.softmax(logits, -1))).mean(0) - baseline
''',
    "baseline ignored": '''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    return (rewards.to(logits.dtype)[:, None] * (onehot - torch.softmax(logits, -1))).mean(0)
''',
    "the batch mean of the rewards used instead of the given baseline": '''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    adv = (rewards - rewards.mean()).to(logits.dtype)
    return (adv[:, None] * (onehot - torch.softmax(logits, -1))).mean(0)
''',
    "baseline added instead of subtracted": '''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    onehot = F.one_hot(actions, logits.shape[-1]).to(logits.dtype)
    adv = (rewards + baseline).to(logits.dtype)
    return (adv[:, None] * (onehot - torch.softmax(logits, -1))).mean(0)
''',
}

VALID = {  # each must PASS
    "autograd of mean (r − b)·log π(a)": '''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    z = logits.detach().clone().requires_grad_(True)
    surrogate = ((rewards - baseline).to(z.dtype) * torch.log_softmax(z, -1)[actions]).mean()
    g, = torch.autograd.grad(surrogate, z)
    return g
''',
    "the unbaselined estimate minus b times the mean score": '''def score_function_gradient_with_baseline(logits, actions, rewards, baseline):
    score = F.one_hot(actions, logits.shape[-1]).to(logits.dtype) - torch.softmax(logits, -1)   # (n, k)
    return (rewards.to(logits.dtype)[:, None] * score).mean(0) - baseline.to(logits.dtype) * score.mean(0)
''',
}
