import runpy
from pathlib import Path

_BODY = '''def train_step(params, state, x, y, config, lr, train_cfg):
    names = list(params)
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    _, loss = gpt_forward(x, p, config, y)
    grads = dict(zip(names, torch.autograd.grad(loss, [p[k] for k in names])))
    CLIP
    b1, b2, t = train_cfg.beta1, train_cfg.beta2, STEP
    new, m, v = {}, {}, {}
    for k in names:
        g, theta = grads[k], params[k]
        m[k] = b1 * state["m"][k] + (1 - b1) * g
        v[k] = b2 * state["v"][k] + (1 - b2) * g ** 2
        m_hat, v_hat = CORRECTION
        decay = DECAY
        new[k] = UPDATE
    return loss.detach(), new, {"step": t, "m": m, "v": v}
'''
_DEFAULTS = dict(
    CLIP='''if train_cfg.grad_clip > 0:
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values()))
        grads = {k: g * torch.clamp(train_cfg.grad_clip / (norm + 1e-6), max=1.0) for k, g in grads.items()}''',
    STEP='state["step"] + 1',
    CORRECTION="m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)",
    DECAY="train_cfg.weight_decay if theta.dim() >= 2 else 0.0",
    UPDATE="theta - lr * (m_hat / (v_hat.sqrt() + 1e-8) + decay * theta)",
)


_fill = runpy.run_path(str(Path(__file__).with_name("_template.py")))["variant"]   # the shared hole-filler


def _variant(**changes):
    return _fill(_BODY, _DEFAULTS, **changes)


WRONG = {
    "no bias correction (m and v used as they are)": _variant(CORRECTION="m[k], v[k]"),
    "weight decay on every tensor, biases and LayerNorm gains included": _variant(DECAY="train_cfg.weight_decay"),
    "no gradient clipping": _variant(CLIP="pass"),
    "clips each tensor's norm separately instead of the global norm":
        _variant(CLIP='''if train_cfg.grad_clip > 0:
        grads = {k: g * torch.clamp(train_cfg.grad_clip / (g.norm() + 1e-6), max=1.0) for k, g in grads.items()}'''),
    "L2 regularisation (Adam): the decay added to the gradient, not to the update":
        _variant(UPDATE="theta - lr * m_hat / (v_hat.sqrt() + 1e-8)",
                 DECAY="0.0\n        g = g + (train_cfg.weight_decay if theta.dim() >= 2 else 0.0) * theta"),
    "the step counter not advanced (bias corrections with t = state['step'])":
        _variant(STEP='max(state["step"], 1)'),
    "eps inside the square root": _variant(UPDATE="theta - lr * (m_hat / (v_hat + 1e-8).sqrt() + decay * theta)"),
}
VALID = {
    "torch.optim.AdamW on leaf copies, with torch's own clip_grad_norm_": '''def train_step(params, state, x, y, config, lr, train_cfg):
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    matrices = [t for t in p.values() if t.dim() >= 2]
    others = [t for t in p.values() if t.dim() < 2]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": train_cfg.weight_decay},
                             {"params": others, "weight_decay": 0.0}], lr=lr,
                            betas=(train_cfg.beta1, train_cfg.beta2), foreach=False)
    for k, t in p.items():
        opt.state[t] = {"step": torch.tensor(float(state["step"])), "exp_avg": state["m"][k].clone(),
                        "exp_avg_sq": state["v"][k].clone()}
    _, loss = gpt_forward(x, p, config, y)
    loss.backward()
    if train_cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(list(p.values()), train_cfg.grad_clip)
    opt.step()
    return (loss.detach(), {k: t.detach() for k, t in p.items()},
            {"step": state["step"] + 1, "m": {k: opt.state[t]["exp_avg"] for k, t in p.items()},
             "v": {k: opt.state[t]["exp_avg_sq"] for k, t in p.items()}})
''',
    "in-place updates under no_grad, Adam written in torch's order (decay first, then the step)": '''def train_step(params, state, x, y, config, lr, train_cfg):
    params = {k: v.clone().requires_grad_() for k, v in params.items()}
    loss = gpt_forward(x, params, config, y)[1]
    loss.backward()
    grads = [t.grad for t in params.values()]
    if train_cfg.grad_clip:
        total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        coef = train_cfg.grad_clip / (total + 1e-6)
        if coef < 1:
            for g in grads:
                g.mul_(coef)
    t = state["step"] + 1
    m = {k: state["m"][k].clone() for k in params}
    v = {k: state["v"][k].clone() for k in params}
    with torch.no_grad():
        for (k, theta), g in zip(params.items(), grads):
            if theta.ndim > 1:
                theta.mul_(1 - lr * train_cfg.weight_decay)
            m[k].lerp_(g, 1 - train_cfg.beta1)
            v[k].mul_(train_cfg.beta2).addcmul_(g, g, value=1 - train_cfg.beta2)
            denom = v[k].sqrt() / math.sqrt(1 - train_cfg.beta2 ** t) + 1e-8
            theta.addcdiv_(m[k], denom, value=-lr / (1 - train_cfg.beta1 ** t))
    return loss.detach(), {k: p.detach() for k, p in params.items()}, {"step": t, "m": m, "v": v}
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have
WRONG['clipping always rescales to grad_clip / ‖g‖ (no min(1, ·)): scales small gradients up'] = '''def train_step(params, state, x, y, config, lr, train_cfg):
    names = list(params)
    p = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    _, loss = gpt_forward(x, p, config, y)
    grads = dict(zip(names, torch.autograd.grad(loss, [p[k] for k in names])))
    if train_cfg.grad_clip > 0:
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads.values()))
        grads = {k: g * (train_cfg.grad_clip / (norm + 1e-6)) for k, g in grads.items()}
    b1, b2, t = train_cfg.beta1, train_cfg.beta2, state["step"] + 1
    new, m, v = {}, {}, {}
    for k in names:
        g, theta = grads[k], params[k]
        m[k] = b1 * state["m"][k] + (1 - b1) * g
        v[k] = b2 * state["v"][k] + (1 - b2) * g ** 2
        m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
        decay = train_cfg.weight_decay if theta.dim() >= 2 else 0.0
        new[k] = theta - lr * (m_hat / (v_hat.sqrt() + 1e-8) + decay * theta)
    return loss.detach(), new, {"step": t, "m": m, "v": v}
'''

WRONG.update({
    # right numbers, but the learner's state dict is changed in place: a plain int inside a dict argument
    "increments state['step'] in place (the caller's optimizer state changes)": _variant(
        STEP='state.__setitem__("step", state["step"] + 1) or state["step"]'),
})
