WRONG = {
    "no ε: a group of equal rewards gives nan": '''def group_advantages(rewards):
    return (rewards - rewards.mean(1, keepdim=True)) / rewards.std(1, keepdim=True)
''',
    "population std instead of the sample std": '''def group_advantages(rewards):
    return (rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True, correction=0) + 1e-4)
''',
    "mean and std over the whole batch, not per group": '''def group_advantages(rewards):
    return (rewards - rewards.mean()) / (rewards.std() + 1e-4)
''',
    "groups along the wrong dimension": '''def group_advantages(rewards):
    return (rewards - rewards.mean(0, keepdim=True)) / (rewards.std(0, keepdim=True) + 1e-4)
''',
}
VALID = {
    "std written out": '''def group_advantages(rewards):
    k = rewards.shape[1]
    centred = rewards - rewards.sum(1, keepdim=True) / k
    std = (centred.pow(2).sum(1, keepdim=True) / (k - 1)).sqrt()
    return centred / (std + 1e-4)
''',
    "torch.std_mean": '''def group_advantages(rewards):
    std, mean = torch.std_mean(rewards, dim=1, keepdim=True)
    return (rewards - mean) / (std + 1e-4)
''',
}
