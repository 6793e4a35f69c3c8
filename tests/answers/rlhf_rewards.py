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
