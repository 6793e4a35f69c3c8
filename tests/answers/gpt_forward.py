import runpy
from pathlib import Path

_BODY = '''def gpt_forward(idx, params, config, targets=None):
    B, T = idx.shape
    E, P = params["transformer.wte.weight"], params["transformer.wpe.weight"]
    h = EMBED
    for l in range(config.n_layer):
        prefix = f"transformer.h.{l}."
        h = transformer_block(h, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)},
                              config.n_head)
    h = FINAL_LN
    logits = h @ E.T
    loss = None
    if targets is not None:
        loss = LOSS
    return logits, loss
'''
_DEFAULTS = dict(EMBED="E[idx] + P[:T]",
                 FINAL_LN='layer_norm(h, params["transformer.ln_f.weight"], params.get("transformer.ln_f.bias"))',
                 LOSS="F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)")


_fill = runpy.run_path(str(Path(__file__).with_name("_template.py")))["variant"]   # the shared hole-filler


def _variant(**changes):
    return _fill(_BODY, _DEFAULTS, **changes)


WRONG = {
    "no position embedding": _variant(EMBED="E[idx]"),
    "forgets the final LayerNorm ln_f": _variant(FINAL_LN="h"),
    "ignored targets counted in the mean (loss summed over kept, divided by B·T)":
        _variant(LOSS="F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), "
                      "ignore_index=-100, reduction='sum') / targets.numel()"),
    "position embedding of the whole block_size added (broadcast fails unless T = block_size)":
        _variant(EMBED="E[idx] + P"),
    "targets shifted again inside the forward (they are already the next tokens)":
        _variant(LOSS="F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), "
                      "targets[:, 1:].reshape(-1), ignore_index=-100)"),
    "positions numbered from 1": _variant(EMBED="E[idx] + torch.cat([P[1:T + 1], P[:max(0, T + 1 - len(P))]])"),
}
VALID = {
    "one-hot embedding, the loss written with log_softmax and a mask": '''def gpt_forward(idx, params, config, targets=None):
    B, T = idx.shape
    E = params["transformer.wte.weight"]
    V = E.shape[0]
    h = F.one_hot(idx, V).to(E.dtype) @ E + params["transformer.wpe.weight"][torch.arange(T)]
    for l in range(config.n_layer):
        prefix = "transformer.h.%d." % l
        sub = {name[len(prefix):]: t for name, t in params.items() if name.startswith(prefix)}
        h = transformer_block(h, sub, config.n_head)
    h = F.layer_norm(h, (h.shape[-1],), params["transformer.ln_f.weight"], params.get("transformer.ln_f.bias"))
    logits = torch.einsum("btc,vc->btv", h, E)
    if targets is None:
        return logits, None
    logp = torch.log_softmax(logits, dim=-1)
    keep = targets != -100
    nll = -logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logits, nll[keep].mean()
''',
    "F.embedding and F.linear, the blocks found by splitting the names": '''def gpt_forward(idx, params, config, targets=None):
    T = idx.shape[1]
    h = F.embedding(idx, params["transformer.wte.weight"]) + F.embedding(
        torch.arange(T, device=idx.device), params["transformer.wpe.weight"])
    blocks = [dict() for _ in range(config.n_layer)]
    for name, t in params.items():
        parts = name.split(".")
        if parts[:2] == ["transformer", "h"]:
            blocks[int(parts[2])][".".join(parts[3:])] = t
    for block in blocks:
        h = transformer_block(h, block, config.n_head)
    h = layer_norm(h, params["transformer.ln_f.weight"], params.get("transformer.ln_f.bias"))
    logits = F.linear(h, params["transformer.wte.weight"])
    loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
    return logits, loss
''',
}

# ---- added by the held-out review (exreview): answers that passed, or failed, when they should not have.
# The forward pass written out once with named holes; each answer below changes one of them (see _template.py).
_BODY_FULL = '''import torch
import torch.nn.functional as F


DECORATOR
def gpt_forward(idx, params, config, targets=None):
    B, T = idx.shape
    E, P = params["transformer.wte.weight"], params["transformer.wpe.weight"]   # (V, C), (block_size, C)
    h = EMBED                                                             # (B, T, C)
    for l in range(config.n_layer):
        prefix = f"transformer.h.{l}."
        block = {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}
        h = BLOCK                                                         # (B, T, C)
    h = layer_norm(h, params["transformer.ln_f.weight"], params.get("transformer.ln_f.bias"))
    logits = HEAD                                                         # (B, T, V): tied head
    loss = None
    if targets is not None:
        LOSS
    return logits, loss
'''
_DEFAULTS_FULL = dict(
    DECORATOR="",
    EMBED="E[idx] + P[:T]",
    BLOCK="transformer_block(h, block, config.n_head)",
    HEAD="h @ E.T",
    LOSS="loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)",
)


def _full(**changes):
    return _fill(_BODY_FULL, _DEFAULTS_FULL, **changes)


WRONG['the whole forward under @torch.no_grad(): right values, but train_step cannot differentiate it'] = _full(
    DECORATOR="@torch.no_grad()")
WRONG['E and P detached: no gradient reaches the embeddings'] = _full(EMBED="E.detach()[idx] + P.detach()[:T]")
WRONG['the weights loaded into the package GPT with load_state_dict (a copy): no gradient reaches params'] = 'def gpt_forward(idx, params, config, targets=None):\n    from lmrl_course.gpt import GPT\n    model = GPT(config).to(params["transformer.wte.weight"].dtype)\n    model.load_state_dict({**params, "lm_head.weight": params["transformer.wte.weight"]})\n    return model(idx, targets) if targets is not None else (model(idx)[0], None)\n'
WRONG['the package GPT through torch.func.functional_call: differentiable, but the package does the work'] = 'def gpt_forward(idx, params, config, targets=None):\n    from lmrl_course.gpt import GPT\n    model = GPT(config).to(params["transformer.wte.weight"].dtype)\n    weights = {**params, "lm_head.weight": params["transformer.wte.weight"]}\n    logits, loss = torch.func.functional_call(model, weights, (idx, targets))\n    return logits, loss\n'
VALID['the loss by hand with logsumexp over the kept targets'] = _full(LOSS="""z, y = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        keep = y != -100
        loss = (torch.logsumexp(z[keep], -1) - z[keep].gather(-1, y[keep][:, None]).squeeze(-1)).mean()""")
WRONG['the output head computed in float32 and cast back: float64 precision lost'] = _full(
    HEAD="(h.float() @ E.T.float()).to(h.dtype)")
WRONG["the package's Block for every layer (through functional_call), the rest by hand"] = _full(
    BLOCK="torch.func.functional_call(__import__('lmrl_course.gpt').gpt.Block(config).to(dtype=h.dtype), block, (h,))")
WRONG["the loss computed from detached logits: right values, but train_step's loss has no gradient"] = _full(
    LOSS="loss = F.cross_entropy(logits.detach().reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)")
