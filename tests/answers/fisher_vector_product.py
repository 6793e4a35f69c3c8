"""Answers for the fisher_vector_product exercise (notebook 06): (F + damping·I) v for a CategoricalPolicy."""

WRONG = {  # each must FAIL
    "first derivative only: ∇KL̄, which is 0 at θ_old, instead of ∇(∇KL̄ᵀv)": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    from torch.distributions import Categorical, kl_divergence
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    kl = kl_divergence(Categorical(logits=dist.logits.detach()), dist).mean()
    g = torch.autograd.grad(kl, params)
    return torch.cat([x.reshape(-1) for x in g]) + damping * v
''',
    "KL summed over the states instead of averaged": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    from torch.distributions import Categorical, kl_divergence
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    kl = kl_divergence(Categorical(logits=dist.logits.detach()), dist).sum()
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(kl, params, create_graph=True)])
    return torch.cat([x.reshape(-1) for x in torch.autograd.grad(g @ v, params)]) + damping * v
''',
    "damping ignored": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    from torch.distributions import Categorical, kl_divergence
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    kl = kl_divergence(Categorical(logits=dist.logits.detach()), dist).mean()
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(kl, params, create_graph=True)])
    return torch.cat([x.reshape(-1) for x in torch.autograd.grad(g @ v, params)])
''',
    "old distribution not detached: KL(π_θ ‖ π_θ) is identically 0, so is its Hessian": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    from torch.distributions import kl_divergence
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    kl = kl_divergence(dist, dist).mean()
    g = torch.autograd.grad(kl, params, create_graph=True, allow_unused=True)
    g = torch.cat([torch.zeros_like(p).reshape(-1) if x is None else x.reshape(-1) for x, p in zip(g, params)])
    Fv = torch.autograd.grad(g @ v, params, allow_unused=True)
    Fv = torch.cat([torch.zeros_like(p).reshape(-1) if x is None else x.reshape(-1) for x, p in zip(Fv, params)])
    return Fv + damping * v
''',
    "empirical Fisher of the greedy action only (one outer product of a mean score)": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    logp = dist.log_prob(dist.probs.argmax(-1)).mean()
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(logp, params)])
    return g * (g @ v) + damping * v
''',
}

VALID = {  # each must PASS
    "create_graph=True on both derivatives (the result stays differentiable)": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    from torch.distributions import Categorical, kl_divergence
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    kl = kl_divergence(Categorical(logits=dist.logits.detach()), dist).mean()
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(kl, params, create_graph=True)])
    Fv = torch.autograd.grad(g @ v, params, create_graph=True)
    return torch.cat([x.reshape(-1) for x in Fv]) + damping * v
''',
    "explicit Fisher matrix E_s Σ_a π(a|s) ∇log π ∇log πᵀ, then a matrix-vector product": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    params = list(policy.parameters())
    P = sum(p.numel() for p in params)
    F_mat = torch.zeros(P, P, dtype=v.dtype)
    for s in range(obs.shape[0]):
        logp = torch.log_softmax(policy(obs[s:s + 1])[0], dim=-1)          # (n_actions,)
        for a in range(logp.shape[0]):
            score = torch.cat([x.reshape(-1) for x in torch.autograd.grad(logp[a], params, retain_graph=True)])
            F_mat += logp[a].exp().detach() * torch.outer(score, score)
    F_mat /= obs.shape[0]
    return F_mat @ v + damping * v
''',
    "explicit KL written from log-softmax, Hessian-vector product by torch.autograd.functional.hvp": '''def fisher_vector_product(policy, obs, v, damping=0.0):
    from torch.func import functional_call
    names = [n for n, _ in policy.named_parameters()]
    theta = [p.detach() for _, p in policy.named_parameters()]
    with torch.no_grad():
        logp_old = torch.log_softmax(policy(obs), dim=-1)                   # (M, n_actions)

    def kl(*ps):
        logp = torch.log_softmax(functional_call(policy, dict(zip(names, ps)), (obs,)), dim=-1)
        return (logp_old.exp() * (logp_old - logp)).sum(-1).mean()

    vs, i = [], 0
    for p in theta:
        vs.append(v[i:i + p.numel()].reshape(p.shape))
        i += p.numel()
    _, Hv = torch.autograd.functional.hvp(kl, tuple(theta), tuple(vs))
    return torch.cat([x.reshape(-1) for x in Hv]) + damping * v
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['default damping=0.1 instead of 0.0'] = '''import torch
from torch.distributions import Categorical, kl_divergence


def fisher_vector_product(policy, obs, v, damping=0.1):
    params = list(policy.parameters())
    dist = policy.distribution(obs)
    old = Categorical(logits=dist.logits.detach())                     # π_θold, a constant
    kl = kl_divergence(old, dist).mean()                               # KL̄: value 0, gradient 0, Hessian F
    grads = torch.autograd.grad(kl, params, create_graph=True)
    g_kl = torch.cat([g.reshape(-1) for g in grads])                   # ∇KL̄ as a function of θ
    Fv = torch.autograd.grad(g_kl @ v, params)                         # ∇(∇KL̄ᵀ v) = F v
    return torch.cat([g.reshape(-1) for g in Fv]) + damping * v
'''
