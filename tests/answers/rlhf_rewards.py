WRONG = {
    "score at the last position N − 1, not at the last real token": '''def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    rewards = -kl_coef * (logp - ref_logp) * mask
    rewards[:, -1] += score
    return rewards
''',
    "KL penalty also at padding": '''def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    rewards = -kl_coef * (logp - ref_logp)
    last = mask.long().sum(1) - 1
    rewards[torch.arange(rewards.shape[0]), last] += score
    return rewards
''',
    "KL sign flipped (a bonus for drifting)": '''def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    rewards = kl_coef * (logp - ref_logp) * mask
    last = mask.long().sum(1) - 1
    rewards[torch.arange(rewards.shape[0]), last] += score
    return rewards
''',
    "the score on every real token": '''def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    return (-kl_coef * (logp - ref_logp) + score[:, None]) * mask
''',
}
VALID = {
    "one-hot of the last index": '''def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    m = mask.to(logp.dtype)
    last = F.one_hot(mask.long().sum(1) - 1, mask.shape[1]).to(logp.dtype)   # (B, N)
    return -kl_coef * (logp - ref_logp) * m + last * score[:, None]
''',
    "loop over rows": '''def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    rewards = torch.where(mask, -kl_coef * (logp - ref_logp), torch.zeros_like(logp))
    for b in range(rewards.shape[0]):
        L = int(mask[b].sum())
        rewards[b, L - 1] = rewards[b, L - 1] + score[b]
    return rewards
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['returns float32 for float64 inputs'] = '''import torch


def rlhf_rewards(score, logp, ref_logp, mask, kl_coef):
    kl = (logp - ref_logp).masked_fill(~mask, 0.0)          # k1 per token, 0 at padding
    rewards = (-kl_coef * kl).float()                                  # (B, N)
    last = mask.long().sum(dim=1) - 1                        # index of the last real token
    rewards[torch.arange(rewards.shape[0]), last] += score   # the score, once, at the end
    return rewards
'''
