WRONG = {
    "baseline includes the response itself (plain group mean)": '''def rloo_advantages(rewards):
    return rewards - rewards.mean(1, keepdim=True)
''',
    "divides by k instead of k − 1": '''def rloo_advantages(rewards):
    k = rewards.shape[1]
    return rewards - (rewards.sum(1, keepdim=True) - rewards) / k
''',
    "leave-one-out over the batch dimension": '''def rloo_advantages(rewards):
    G = rewards.shape[0]
    return rewards - (rewards.sum(0, keepdim=True) - rewards) / (G - 1)
''',
    "standardised like GRPO": '''def rloo_advantages(rewards):
    return (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)
''',
}
VALID = {
    "k/(k−1) times the centred reward": '''def rloo_advantages(rewards):
    k = rewards.shape[1]
    return k / (k - 1) * (rewards - rewards.mean(1, keepdim=True))
''',
    "explicit loop over the left-out member": '''def rloo_advantages(rewards):
    k = rewards.shape[1]
    cols = []
    for i in range(k):
        others = torch.cat([rewards[:, :i], rewards[:, i + 1:]], dim=1)
        cols.append(rewards[:, i] - others.mean(1))
    return torch.stack(cols, dim=1)
''',
}
