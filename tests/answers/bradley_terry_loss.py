WRONG = {
    "unstable: log of the sigmoid is -inf at a difference of −100": '''def bradley_terry_loss(r_chosen, r_rejected):
    return -torch.log(torch.sigmoid(r_chosen - r_rejected)).mean()
''',
    "sign flipped: rewards the rejected response": '''def bradley_terry_loss(r_chosen, r_rejected):
    return F.softplus(r_chosen - r_rejected).mean()
''',
    "sum instead of mean": '''def bradley_terry_loss(r_chosen, r_rejected):
    return F.softplus(r_rejected - r_chosen).sum()
''',
    "hinge instead of the logistic loss": '''def bradley_terry_loss(r_chosen, r_rejected):
    return torch.clamp(1 - (r_chosen - r_rejected), min=0).mean()
''',
}
VALID = {
    "logsigmoid": '''def bradley_terry_loss(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected).mean()
''',
    "binary cross-entropy with logits, target 1": '''def bradley_terry_loss(r_chosen, r_rejected):
    d = r_chosen - r_rejected
    return F.binary_cross_entropy_with_logits(d, torch.ones_like(d))
''',
}
