"""Answers for the exercise `ppo_clipped_loss` (notebook 07): see README.md in this folder.

The checker compares gradients with respect to logp_new, logp_old and advantages (only logp_new
may receive one)."""

WRONG = {  # each must FAIL
    "clips the ratio without the min": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    return -(torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages.detach()).mean()
''',
    "max instead of min: the optimistic bound": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    return -torch.max(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
    "sign: returns the objective instead of the loss": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    return torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
    "ratio = logp_new - logp_old (forgets the exp)": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = logp_new - logp_old.detach()
    adv = advantages.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
    "ratio inverted: exp(logp_old - logp_new)": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_old.detach() - logp_new)
    adv = advantages.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
    "clips the advantages instead of the ratio": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    return -torch.min(ratio * adv, ratio * torch.clamp(adv, 1 - clip_coef, 1 + clip_coef)).mean()
''',
    "no detach on logp_old: the gradient flows into the old policy": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old)
    adv = advantages.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
    "no detach on the advantages": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    return -torch.min(ratio * advantages, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * advantages).mean()
''',
    "min of the two batch means instead of the element-wise min": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    return -torch.min((ratio * adv).mean(), (torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean())
''',
    "hard-codes eps = 0.2 instead of clip_coef": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 0.8, 1.2) * adv).mean()
''',
    "clamps the ratio to [-eps, eps] (forgets the 1 ±)": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old.detach())
    adv = advantages.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, -clip_coef, clip_coef) * adv).mean()
''',
    "detaches the ratio: right value, no gradient": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new - logp_old).detach()
    adv = advantages.detach()
    return -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
    "precision: computes in float32 inside the float64 case, then casts back": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = torch.exp(logp_new.float() - logp_old.detach().float())
    adv = advantages.detach().float()
    loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - clip_coef, 1 + clip_coef) * adv).mean()
    return loss.to(logp_new.dtype)
''',
}

VALID = {  # each must PASS
    "piecewise by the sign of the advantage: min(r, 1+eps) for Â >= 0, max(r, 1-eps) for Â < 0": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = (logp_new - logp_old.detach()).exp()
    adv = advantages.detach()
    capped = torch.where(adv >= 0, ratio.clamp(max=1 + clip_coef), ratio.clamp(min=1 - clip_coef))
    return -(capped * adv).mean()
''',
    "clipped in log space, the smaller term chosen with torch.where": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    log_ratio = logp_new - logp_old.detach()
    adv = advantages.detach()
    unclipped = log_ratio.exp() * adv
    clipped = log_ratio.clamp(math.log(1 - clip_coef), math.log(1 + clip_coef)).exp() * adv
    return -torch.where(unclipped < clipped, unclipped, clipped).mean()
''',
    "a loop over samples with Python's min, with a print": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    terms = []
    for new, old, a in zip(logp_new, logp_old.tolist(), advantages.tolist()):
        r = torch.exp(new - old)
        terms.append(min(r * a, r.clamp(1 - clip_coef, 1 + clip_coef) * a))
    print(len(terms), "samples")
    return -torch.stack(terms).mean()
''',
    "ratio as a quotient of probabilities, torch.minimum": '''def ppo_clipped_loss(logp_new, logp_old, advantages, clip_coef=0.2):
    ratio = logp_new.exp() / logp_old.detach().exp()
    adv = advantages.detach()
    return -torch.minimum(ratio * adv, ratio.clip(1 - clip_coef, 1 + clip_coef) * adv).mean()
''',
}
