WRONG = {
    "references swapped in: subtracts the rejected ratio from the reference's side": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * ((policy_chosen_logp - policy_rejected_logp) - (ref_rejected_logp - ref_chosen_logp))
    return torch.nn.functional.softplus(-h).mean()
''',
    "no reference at all (a Bradley–Terry loss on the policy's log-probs)": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * (policy_chosen_logp - policy_rejected_logp)
    return torch.nn.functional.softplus(-h).mean()
''',
    "unstable: log of the sigmoid overflows to inf for large margins": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * ((policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp))
    return -torch.log(torch.sigmoid(h)).mean()
''',
    "sign flipped: prefers the rejected response": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * ((policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp))
    return torch.nn.functional.softplus(h).mean()
''',
    "β outside the sigmoid": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = (policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp)
    return beta * torch.nn.functional.softplus(-h).mean()
''',
    "sum over pairs instead of the mean": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * ((policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp))
    return torch.nn.functional.softplus(-h).sum()
''',
}
VALID = {
    "logsigmoid": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * ((policy_chosen_logp - policy_rejected_logp) - (ref_chosen_logp - ref_rejected_logp))
    return -F.logsigmoid(h).mean()
''',
    "binary cross-entropy with logits, target 1": '''def dpo_loss(policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
    h = beta * ((policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp))
    return F.binary_cross_entropy_with_logits(h, torch.ones_like(h))
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
VALID['the reference log-probs detached (the reference model is frozen)'] = '''def dpo_loss(pc, pr, rc, rr, beta):
    h = beta * ((pc - rc.detach()) - (pr - rr.detach()))
    return F.softplus(-h).mean()
'''
