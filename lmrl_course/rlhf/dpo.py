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
from .kl import kl_k3
from .reward_model import PreferenceData
from .rollout import response_logprobs

__all__ = ["dpo_loss", "sequence_logprobs", "train_dpo", "DPO_HISTORY_KEYS"]

DPO_HISTORY_KEYS = ("step", "loss", "reward_acc", "margin", "entropy", "kl", "kl_k3")


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


def _ref_token_logprobs(ref_policy: GPT, prompts: torch.Tensor, response: torch.Tensor, mask: torch.Tensor,
                        temperature: float, chunk: int = 256) -> torch.Tensor:
    """log π_ref(y_t | x, y_<t) of every pair's response, (M, N), in chunks of ``chunk`` pairs (no gradient)."""
    with torch.no_grad():
        return torch.cat([response_logprobs(ref_policy, prompts[i:i + chunk], response[i:i + chunk],
                                            temperature, mask[i:i + chunk]) for i in range(0, len(prompts), chunk)])


def train_dpo(policy: GPT, ref_policy: GPT, data: PreferenceData, beta: float = 0.1, lr: float = 1e-4,
              epochs: int = 1, batch_size: int = 32, temperature: float = 1.0, seed: int = 0,
              max_grad_norm: float = 1.0, progress: bool = False,
              callback: Optional[Callable[[int], None]] = None, callback_every: int = 10) -> dict:
    """Minimise :func:`dpo_loss` over shuffled minibatches of ``data`` (which needs ``prompts``) with Adam.

    π_ref's log-probs are computed once, before the first step (π_ref never changes). ``callback(step)``
    (optional) runs before the first step and every ``callback_every`` steps, e.g. to measure the policy's KL
    and score on its own samples. Returns a history, one row per step, every figure taken with the policy
    *before* that step's update (from the log-probs the loss used, like the other trainers' rows):

    - ``step``, ``loss``; ``reward_acc``: fraction of pairs whose implicit-reward margin
      h = β[(log π_θ(y_c) − log π_ref(y_c)) − (log π_θ(y_r) − log π_ref(y_r))] is > 0; ``margin``: mean h.
    - ``entropy``: H(softmax(z_t / τ)) of π_θ, mean over the real tokens (EOS included) of the minibatch's
      chosen and rejected responses together, from the logits of the loss's own forward pass.
    - ``kl``: mean over the minibatch's 2·b responses (chosen and rejected) of Σ_t k1_t = log π_θ(y) − log π_ref(y);
      ``kl_k3``: the same mean of Σ_t k3_t (:func:`~lmrl_course.rlhf.kl.kl_k3`), over the real tokens. The names
      and estimators of :data:`~lmrl_course.rlhf.trainer.HISTORY_KEYS`, but **on DPO's own training lines**,
      which π_θ did not sample: neither is an unbiased estimate of KL(π_θ ‖ π_ref) (k1 can be well below 0,
      as DPO pushes the rejected lines down). They say how far the training lines' log-probs have moved from
      π_ref; the policy's KL on its own samples needs sampling (``callback``, :func:`evaluate_policy`).
    """
    if not isinstance(data, PreferenceData) or data.prompts is None:
        raise ValueError("data must be a PreferenceData with prompts (DPO compares two responses to one prompt)")
    if ref_policy is policy:
        raise ValueError("ref_policy must be a frozen copy of the policy (copy.deepcopy), not the same object")
    dev = next(policy.parameters()).device
    data = data.to(dev)
    gen = seed_everything(seed)
    ref_tok_c = _ref_token_logprobs(ref_policy, data.prompts, data.chosen, data.chosen_mask, temperature)  # (M, N)
    ref_tok_r = _ref_token_logprobs(ref_policy, data.prompts, data.rejected, data.rejected_mask, temperature)
    ref_c, ref_r = ref_tok_c.sum(1), ref_tok_r.sum(1)  # (M,) sequence log-probs
    opt = torch.optim.Adam(policy.parameters(), lr=lr)
    hist = {k: [] for k in DPO_HISTORY_KEYS}
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
            mc, mr = data.chosen_mask[ix], data.rejected_mask[ix]  # (b, N)
            tok_c, ent_c = response_logprobs(policy, data.prompts[ix], data.chosen[ix], temperature, mc, with_entropy=True)
            tok_r, ent_r = response_logprobs(policy, data.prompts[ix], data.rejected[ix], temperature, mr,
                                             with_entropy=True)
            pc, pr = tok_c.sum(1), tok_r.sum(1)  # (b,) sequence log-probs
            loss = dpo_loss(pc, pr, ref_c[ix], ref_r[ix], beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), max_grad_norm)
            opt.step()
            step += 1
            with torch.no_grad():
                margin = beta * ((pc - ref_c[ix]) - (pr - ref_r[ix]))  # (b,)
                k1 = torch.cat([pc - ref_c[ix], pr - ref_r[ix]])  # (2b,) Σ_t k1 per response
                k3 = torch.cat([kl_k3(tok_c, ref_tok_c[ix], mc).sum(1), kl_k3(tok_r, ref_tok_r[ix], mr).sum(1)])
                n_tok = mc.sum() + mr.sum()
                entropy = (ent_c.sum() + ent_r.sum()) / n_tok  # padding holds 0
            row = {"step": step, "loss": float(loss.detach()), "reward_acc": float((margin > 0).float().mean()),
                   "margin": float(margin.mean()), "entropy": float(entropy), "kl": float(k1.mean()),
                   "kl_k3": float(k3.mean())}
            for k in hist:
                hist[k].append(row[k])
            if bar is not None:
                bar.update(1)
    if callback is not None:
        policy.eval()
        callback(step)
    if bar is not None:
        bar.close()
    policy.eval()
    return hist
