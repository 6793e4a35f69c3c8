"""Direct Preference Optimisation (Rafailov et al., 2023): RLHF's KL-regularised objective solved in closed
form, then fitted to the preference pairs directly, without a reward model or sampling.

The optimum of  max_π E[r(y)] − β KL(π ‖ π_ref)  is  π*(y) ∝ π_ref(y) e^{r(y)/β}, so
r(y) = β log π*(y)/π_ref(y) + β log Z (Z depends on the prompt only). Put that reward into the
Bradley–Terry likelihood of a pair (y_c ≻ y_r) of the same prompt: log Z cancels, and::

    h = β [ (log π_θ(y_c) − log π_ref(y_c)) − (log π_θ(y_r) − log π_ref(y_r)) ]
    L_DPO = −mean log σ(h) = mean softplus(−h)

with sequence log-probs log π(y) = Σ_t log π(y_t | x, y_<t), taken at the sampling temperature τ like every
log-prob of the course. ``β log π_θ/π_ref`` is DPO's *implicit reward*.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F

from ..device import seed_everything
from ..gpt import GPT
from ..validation import require_in_range, require_same_shape, require_tensor
from .reward_model import PreferenceData
from .rollout import response_logprobs

__all__ = ["dpo_loss", "sequence_logprobs", "train_dpo"]


def dpo_loss(policy_chosen_logp: torch.Tensor, policy_rejected_logp: torch.Tensor, ref_chosen_logp: torch.Tensor,
             ref_rejected_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """−mean log σ(β[(log π_θ(y_c) − log π_ref(y_c)) − (log π_θ(y_r) − log π_ref(y_r))]); sequence log-probs (M,)."""
    names = ("policy_chosen_logp", "policy_rejected_logp", "ref_chosen_logp", "ref_rejected_logp")
    xs = (policy_chosen_logp, policy_rejected_logp, ref_chosen_logp, ref_rejected_logp)
    for x, name in zip(xs, names):
        require_tensor(x, name, ndim=1, kind="float", dims="(M,) one sequence log-prob per pair")
        require_same_shape(x, policy_chosen_logp, name, names[0])
    require_in_range(beta, "beta", 0.0, None, low_inclusive=False)
    h = beta * ((policy_chosen_logp - ref_chosen_logp) - (policy_rejected_logp - ref_rejected_logp))  # (M,)
    return F.softplus(-h).mean()


def sequence_logprobs(model: GPT, prompt: torch.Tensor, response: torch.Tensor, mask: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """log π(y | x) = Σ_t log π(y_t | x, y_<t) over the real tokens, (B,)."""
    return response_logprobs(model, prompt, response, temperature, mask).sum(dim=1)


def train_dpo(policy: GPT, ref_policy: GPT, data: PreferenceData, beta: float = 0.1, lr: float = 1e-4,
              epochs: int = 1, batch_size: int = 32, temperature: float = 1.0, seed: int = 0,
              max_grad_norm: float = 1.0, progress: bool = False,
              callback: Optional[Callable[[int], None]] = None, callback_every: int = 10) -> dict:
    """Minimise :func:`dpo_loss` over shuffled minibatches of ``data`` (which needs ``prompts``) with Adam.

    ``callback(step)`` (optional) runs before the first step and every ``callback_every`` steps, e.g. to
    measure the policy's KL and score. Returns a history: ``step``, ``loss``, ``reward_acc`` (fraction of
    pairs whose implicit-reward margin is > 0), ``margin`` (mean implicit-reward margin).
    """
    if not isinstance(data, PreferenceData) or data.prompts is None:
        raise ValueError("data must be a PreferenceData with prompts (DPO compares two responses to one prompt)")
    if ref_policy is policy:
        raise ValueError("ref_policy must be a frozen copy of the policy (copy.deepcopy), not the same object")
    dev = next(policy.parameters()).device
    data = data.to(dev)
    gen = seed_everything(seed)
    with torch.no_grad():  # π_ref never changes: its log-probs once, for every pair
        ref_c = torch.cat([sequence_logprobs(ref_policy, data.prompts[i:i + 256], data.chosen[i:i + 256],
                                             data.chosen_mask[i:i + 256], temperature) for i in range(0, len(data), 256)])
        ref_r = torch.cat([sequence_logprobs(ref_policy, data.prompts[i:i + 256], data.rejected[i:i + 256],
                                             data.rejected_mask[i:i + 256], temperature) for i in range(0, len(data), 256)])
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    hist = {"step": [], "loss": [], "reward_acc": [], "margin": []}
    M = len(data)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * ((M + batch_size - 1) // batch_size), desc="DPO")
    step = 0
    policy.train()
    for _ in range(epochs):
        perm = torch.randperm(M, generator=gen).to(dev)
        for i in range(0, M, batch_size):
            if callback is not None and step % callback_every == 0:
                policy.eval()
                callback(step)
                policy.train()
            ix = perm[i:i + batch_size]
            pc = sequence_logprobs(policy, data.prompts[ix], data.chosen[ix], data.chosen_mask[ix], temperature)
            pr = sequence_logprobs(policy, data.prompts[ix], data.rejected[ix], data.rejected_mask[ix], temperature)
            loss = dpo_loss(pc, pr, ref_c[ix], ref_r[ix], beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
            opt.step()
            step += 1
            with torch.no_grad():
                margin = beta * ((pc - ref_c[ix]) - (pr - ref_r[ix]))
            hist["step"].append(step)
            hist["loss"].append(float(loss.detach()))
            hist["reward_acc"].append(float((margin > 0).float().mean()))
            hist["margin"].append(float(margin.mean()))
            if bar is not None:
                bar.update(1)
    if callback is not None:
        policy.eval()
        callback(step)
    if bar is not None:
        bar.close()
    policy.eval()
    return hist
