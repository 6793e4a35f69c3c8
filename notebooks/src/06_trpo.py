# %% [markdown]
# # 06 · TRPO: how far may one update move the policy?
#
# **What you will build:** Trust Region Policy Optimisation (Schulman et al., 2015). REINFORCE's step
# size is a learning rate in *parameter* space, but what matters is how much the *behaviour* changes:
# one step that is too large can wipe out a good policy. TRPO bounds the change of the policy's
# distribution — a KL divergence — and picks the best step inside that bound with the **natural
# gradient**. You will compute it the way TRPO does, without ever forming a matrix: Fisher-vector
# products by double backprop, conjugate gradient, a step size from the quadratic KL model, and a
# backtracking line search that double-checks the result.
#
# **Learning goals**
# - See a large plain policy-gradient step collapse the return, and measure the KL at which it happens.
# - State TRPO's constrained problem and derive the natural-gradient step $\beta F^{-1}g$ with $\beta = \sqrt{2\delta/s^\top F s}$, and measure what damping $F + \xi I$ does to it.
# - Compute Fisher-vector products by double backprop and check them against the explicit Fisher matrix.
# - Solve $Fs = g$ by conjugate gradient and check against a direct solve.
# - Explain why the line search is needed, and run TRPO on CartPole-v1 with GAE and a value baseline.
#
# **Prerequisites:** notebook 05 (REINFORCE with a value baseline). Some linear algebra: a symmetric
# positive-definite matrix, a quadratic form $v^\top A v$.

# %%
# %matplotlib inline
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.distributions import Categorical, kl_divergence
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from lmrl_course.device import setup_notebook, seed_everything

device = setup_notebook(seed=0)
plt.rcParams["figure.dpi"] = 80          # keeps the stored notebook small

# %% [markdown]
# ## 1 · A step that is too large
#
# Take a policy that already balances the pole — trained by the package's `train_reinforce` (notebook
# 05's Monte-Carlo REINFORCE with a value baseline), here with smaller batches than its default
# (`num_steps=128` instead of 256) and an entropy bonus of 0.01, stopped once solved or after 60,000 steps — one
# batch of its experience, and the policy gradient $g$ on that batch (GAE advantages, normalised). Now
# step along $g$ with growing step lengths $\alpha$ — plain gradient ascent, $\theta + \alpha\,g/\lVert g\rVert$ —
# and measure two things: the return of the new policy, and the mean KL divergence between old and new
# action distributions on the batch's states,
# $\overline{\mathrm{KL}} = \mathbb{E}_s\big[\mathrm{KL}(\pi_{\theta_\text{old}}(\cdot\mid s)\,\Vert\,\pi_\theta(\cdot\mid s))\big]$.

# %% tags=["solutions-skip"]
from lmrl_course.rl import (ReinforceConfig, RolloutCollector, evaluate_policy, make_vector_env, normalize_advantages,
                            train_reinforce)

start = time.perf_counter()
trained = train_reinforce("CartPole-v1", ReinforceConfig(total_timesteps=60_000, num_steps=128, ent_coef=0.01),
                          seed=0, stop_when_solved=True)
print(f"took {time.perf_counter() - start:.2f} s")
policy, value_fn = trained["policy"], trained["value_fn"]

seed_everything(1)
envs = make_vector_env("CartPole-v1", num_envs=8, seed=1)
rollout = RolloutCollector(envs, policy, value_fn, seed=1).collect(128)
envs.close()
adv, _ = rollout.advantages_and_returns(0.99, 0.97)
batch = rollout.flatten(advantages=adv)
obs, actions, adv = batch["obs"], batch["actions"], normalize_advantages(batch["advantages"])   # (M, 4), (M,), (M,)
params = list(policy.parameters())
theta_old = parameters_to_vector(params).detach().clone()
old_dist = Categorical(logits=policy(obs).detach())


def flat_policy_gradient(policy):
    logp = policy.distribution(obs).log_prob(actions)
    surrogate = (logp * adv).mean()                                    # REINFORCE objective (to maximise)
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(surrogate, list(policy.parameters()))])


def kl_of_step(step):
    """Exact KL̄(π_θold ‖ π_θold+step) on the batch's states (θ_old is restored)."""
    vector_to_parameters(theta_old + step, params)
    with torch.no_grad():
        kl = kl_divergence(old_dist, policy.distribution(obs)).mean().item()
    vector_to_parameters(theta_old, params)
    return kl


def try_step(step, n_episodes=10):
    """Move θ_old by `step`; measure KL̄ and the return of `n_episodes` episodes (mean, standard error)."""
    vector_to_parameters(theta_old + step, params)
    ev = evaluate_policy(policy, "CartPole-v1", n_episodes=n_episodes, greedy=False, seed=100)
    vector_to_parameters(theta_old, params)
    return kl_of_step(step), ev["mean"], ev["std"] / math.sqrt(n_episodes)


g = flat_policy_gradient(policy)
print(f"{len(obs)} states, {g.numel()} parameters, |g| = {g.norm().item():.3f}")
alphas = [0.0, 0.03, 0.1, 0.2, 0.3, 0.5, 1.0, 3.0]
plain = [try_step(a * g / g.norm()) for a in alphas]
for a, (kl, ret, se) in zip(alphas, plain):
    print(f"step length α = {a:5.2f}: KL̄ = {kl:7.4f}, return = {ret:5.1f} ± {se:4.1f} (10 episodes)")

# %% [markdown]
# Up to a point, the step does little; then the return collapses. On this batch, every step up to a
# KL of about 0.06 leaves the return within the noise of a 10-episode evaluation (the α = 0.3 row,
# 461 ± 28 at a KL of 0.06 against 494 ± 6 at α = 0, is 1.2 combined standard errors lower); at a KL
# of 0.17 the return has dropped to about 190, at 0.69 to 93, at 5.1 to 26: on this batch the return
# collapses between $\overline{\mathrm{KL}}$ 0.06 and 0.17 (α 0.3-0.5). One policy, one batch, one direction:
# where the cliff is depends on all three. Along one direction α and the KL carry the same information (one grows with
# the other); the case for the KL is that it means the same thing in every direction and every layer —
# it measures the change of behaviour, not of the weights — which is argued here, not measured.
# A fixed learning rate does not prevent a step of that size; whether one happens depends on the
# batch (not measured here for plain gradient steps). Section 5 shows a related case in full runs:
# TRPO without its line search (a step sized by the quadratic model and never checked), where one
# update took seed 0's return from 454 to 9, and it stayed near 10 for the last three batches of
# that run.

# %% [markdown]
# ## 2 · Background: the trust region and the natural gradient
#
# **The problem TRPO solves at each update.** With the importance-weighted surrogate of the policy
# gradient (the same $L$ as PPO's $L^\text{CPI}$, notebook 07),
#
# $$\max_\theta\; L(\theta) = \mathbb{E}_t\Big[\frac{\pi_\theta(a_t\mid s_t)}{\pi_{\theta_\text{old}}(a_t\mid s_t)}\hat A_t\Big]
#   \quad\text{subject to}\quad \overline{\mathrm{KL}}(\theta_\text{old}, \theta) \le \delta \quad(\delta = \texttt{max\_kl}).$$
#
# **Approximate both around $\theta_\text{old}$.** Linearly for the objective,
# $L(\theta) \approx L(\theta_\text{old}) + g^\top\Delta\theta$ with $g = \nabla L$ (the policy gradient), and to
# second order for the constraint: at $\theta_\text{old}$ the KL is 0 and has zero gradient (it is at its
# minimum), so $\overline{\mathrm{KL}} \approx \tfrac12\Delta\theta^\top F\,\Delta\theta$, where $F$ is the Hessian of
# $\overline{\mathrm{KL}}$ — the **Fisher information matrix** $F = \mathbb{E}_s\mathbb{E}_{a\sim\pi}\big[\nabla\log\pi\,\nabla\log\pi^\top\big]$.
#
# **Solve.** Maximising $g^\top\Delta\theta$ over the ellipse $\tfrac12\Delta\theta^\top F\Delta\theta \le \delta$ (a Lagrange
# multiplier does it in two lines) gives the **natural gradient** direction and a step that lands on
# the ellipse:
#
# $$s = F^{-1}g, \qquad \Delta\theta = \beta s, \qquad \tfrac12(\beta s)^\top F(\beta s) = \delta \;\Rightarrow\; \beta = \sqrt{\frac{2\delta}{s^\top F s}}.$$
#
# **Make it computable.** A network with $P$ parameters has a $P\times P$ Fisher matrix (here
# $P \approx 4{,}600$; for a language model, billions): never form it. Conjugate gradient solves $Fs = g$
# using only products $Fv$ ("double backprop": once $\nabla\overline{\mathrm{KL}}$ is built with its graph, each
# product costs about one extra backward pass). $F$ is
# singular, so in practice CG solves $(F + \xi I)s = g$ with a small damping $\xi$, and the step is
# sized with the same matrix (section 5 measures what that does). Then, because the approximations
# can be wrong, a **line search** checks the *exact* KL and surrogate.
#
# ### Pseudocode
#
# ```
# 1  for update = 1, 2, ...:
# 2      collect a batch with π_θold; Â by GAE(γ, λ); normalise Â
# 3      g = ∇_θ L(θ) at θ_old
# 4      s ≈ (F + ξI)⁻¹ g by conjugate gradient, using v ↦ (F + ξI) v     (ξ = damping; Fisher-vector products)
# 5      β = √(2δ / sᵀ(F + ξI)s)                                             (section 5: why the damped product)
# 6      for j = 0, 1, ..., max_backtracks−1:  θ = θ_old + 0.8ʲ·β·s;  accept if KL̄ ≤ δ and L(θ) > L(θ_old)
# 7      if nothing was accepted: keep θ = θ_old
# 8      fit V_φ to the returns (a few epochs of Adam)
# ```

# %% [markdown]
# ## 3 · Fisher-vector products by double backprop
#
# $\overline{\mathrm{KL}}(\theta) = \mathbb{E}_s[\mathrm{KL}(\pi_{\theta_\text{old}}\Vert\pi_\theta)]$, with $\pi_{\theta_\text{old}}$ a
# *detached* copy. Then $F v = \nabla_\theta\big[(\nabla_\theta\overline{\mathrm{KL}})^\top v\big]$: differentiate once
# keeping the graph (`create_graph=True`), dot with $v$, differentiate again. Cost: one backward pass
# to build $\nabla\overline{\mathrm{KL}}$ and one more per product; CG reuses the first (the package's
# `make_fisher_vector_product` builds $\nabla\overline{\mathrm{KL}}$ once), so each product costs about one extra
# backward pass. Memory $O(P)$.
#
# ### Exercise: Fisher-vector product
#
# Write `fisher_vector_product(policy, obs, v, damping=0.0)` for a `CategoricalPolicy` (it has
# `.distribution(obs)`, a `Categorical`): return $(F + \text{damping}\cdot I)\,v$ as one flat vector with
# the parameters in the order of `policy.parameters()`.

# %% tags=["exercise"]
# EXERCISE: fisher_vector_product
def fisher_vector_product(policy, obs, v, damping=0.0):
    # Replace the next line with your code (about seven lines).
    raise NotImplementedError

# %%
from lmrl_course.exercises import check

result_fvp = check("fisher_vector_product", fisher_vector_product)
result_fvp

# %% [markdown]
# **Check against the explicit Fisher matrix** on a network small enough to write $F$ down: a
# 2-4-3 policy (27 parameters), 6 states. Two independent constructions: the Hessian of
# $\overline{\mathrm{KL}}$ by `torch.autograd.functional.hessian`, and the definition
# $F = \mathbb{E}_s\sum_a \pi(a\mid s)\,\nabla\log\pi(a\mid s)\nabla\log\pi(a\mid s)^\top$ summed over all actions.

# %%
from lmrl_course.rl import CategoricalPolicy
from lmrl_course.rl.trpo import fisher_vector_product as package_fvp

fvp_fn = result_fvp.function
seed_everything(2)
tiny = CategoricalPolicy(obs_dim=2, n_actions=3, hidden=(4,))
with torch.no_grad():                      # larger weights than the near-uniform default init
    for p in tiny.parameters():
        p.mul_(20.0)
tiny_obs = torch.randn(6, 2)
tiny_params = list(tiny.parameters())
theta0 = parameters_to_vector(tiny_params).detach().clone()
P = theta0.numel()
logits_old = tiny(tiny_obs).detach()


def logits_of(theta):                               # a functional forward pass of the tiny network
    W1, b1, W2, b2 = torch.split(theta, [8, 4, 12, 3])
    h = torch.tanh(tiny_obs @ W1.view(4, 2).T + b1)
    return h @ W2.view(3, 4).T + b2


H = torch.autograd.functional.hessian(lambda th: kl_divergence(Categorical(logits=logits_old),
                                                              Categorical(logits=logits_of(th))).mean(), theta0)
# the definition: E_s Σ_a π(a|s) ∇logπ(a|s) ∇logπ(a|s)ᵀ, with per-(s, a) gradients from the Jacobian
jac = torch.autograd.functional.jacobian(lambda th: torch.log_softmax(logits_of(th), -1), theta0)   # (6, 3, P)
probs = torch.softmax(logits_old, -1)                                                                 # (6, 3)
F_def = torch.einsum("sa,sap,saq->pq", probs, jac, jac) / len(tiny_obs)                               # (P, P)
vector_to_parameters(theta0, tiny_params)
v = torch.randn(P)
print(f"P = {P} parameters")
print("Hessian of KL̄ == Fisher by definition :", torch.allclose(H, F_def, atol=1e-5))
print(f"double backprop F v == H v ({result_fvp.whose:9}) :", torch.allclose(fvp_fn(tiny, tiny_obs, v), H @ v, atol=1e-5))
print(f"{result_fvp.whose:9} == package                   :", torch.allclose(fvp_fn(tiny, tiny_obs, v), package_fvp(tiny, tiny_obs, v), atol=1e-6))
eig = torch.linalg.eigvalsh(F_def)
print(f"eigenvalues of F: min {eig.min().item():.1e}, max {eig.max().item():.1e}  (singular: hence damping)")

# %% [markdown]
# $F$ is positive *semi*-definite and typically singular (directions of parameter space that do not
# change any action probability on these states). TRPO solves with $F + \text{damping}\cdot I$
# (`damping = 0.1`) to keep conjugate gradient well-behaved; section 5 measures what happens without it,
# and what it does to the length of the step.

# %% [markdown]
# ## 4 · Conjugate gradient
#
# Conjugate gradient (CG) solves $Ax = b$ for a symmetric positive-definite $A$ using only the function
# $v\mapsto Av$. Each iteration minimises the quadratic $\tfrac12 x^\top A x - b^\top x$ along a new direction that
# is $A$-conjugate to all previous ones, so in exact arithmetic it finishes in at most $P$ iterations,
# and after $k \ll P$ it is usually good enough — TRPO uses 10.
#
# ```
# x = 0, r = b, p = b
# repeat iters times (stop early if rᵀr < tol):
#     α = rᵀr / pᵀAp ;  x ← x + α p ;  r ← r − α Ap
#     p ← r_new + (r_newᵀr_new / rᵀr) p
# ```
#
# ### Exercise: conjugate gradient
#
# Write `conjugate_gradient(Avp, b, iters=10, tol=1e-10)` for a 1-D tensor `b`: return $x \approx A^{-1}b$,
# a 1-D tensor in `b`'s dtype. Follow the standard CG above exactly, from $x_0 = 0$, for `iters`
# iterations (the checker compares an unconverged 5-iteration run step for step), and test
# $r^\top r <$ `tol` at the top of each iteration, before dividing, so that `b = 0` returns zeros, not NaN.
# Do not modify `b` in place.

# %% tags=["exercise"]
# EXERCISE: conjugate_gradient
def conjugate_gradient(Avp, b, iters=10, tol=1e-10):
    # Replace the next line with your code (about fourteen lines).
    raise NotImplementedError

# %%
result_cg = check("conjugate_gradient", conjugate_gradient)
result_cg

# %%
from lmrl_course.rl.trpo import conjugate_gradient as package_cg

cg = result_cg.function
damping = 0.1
A = F_def + damping * torch.eye(P)
b = torch.randn(P)
x_direct = torch.linalg.solve(A, b)
print(f"{'iterations':>10s}  relative error vs torch.linalg.solve")
for k in [1, 3, 10, 27, 40]:
    x = cg(lambda u: fvp_fn(tiny, tiny_obs, u, damping), b, iters=k)
    print(f"{k:10d}  {((x - x_direct).norm() / x_direct.norm()).item():.2e}")
x_pkg = package_cg(lambda u: A @ u, b, iters=40)
print("package CG with the explicit matrix agrees:", torch.allclose(x_pkg, x_direct, atol=1e-4))

# %% [markdown]
# ## 5 · The step size, and the line search
#
# Back to the CartPole policy of section 1. $F$ is singular, so TRPO solves the *damped* system
# $(F + \xi I)\,s = g$ ($\xi$ = `damping` = 0.1) by 10 CG iterations, and sizes the step with the same
# matrix, as the package and the reference implementations (Schulman's, Spinning Up, SB3-contrib) do:
#
# $$\beta = \sqrt{\frac{2\delta}{s^\top(F+\xi I)s}}, \qquad
#   \tfrac12(\beta s)^\top F(\beta s) = \delta\cdot\frac{s^\top F s}{s^\top F s + \xi\lVert s\rVert^2} \le \delta .$$
#
# $\beta s$ is (up to CG's error) the best step inside the damped ellipse $\tfrac12\Delta\theta^\top(F+\xi I)\Delta\theta\le\delta$,
# which lies inside the KL ellipse: damping makes every step shorter than the quadratic KL
# model allows, by the same factor for every $\delta$. Two questions, then: how large is that factor,
# and how far is the *exact* KL from the quadratic model? The table separates the two: the package's
# step (damped $\beta$), the same direction sized with the undamped $\beta = \sqrt{2\delta/s^\top F s}$
# (quadratic KL exactly $\delta$, so any gap is model error), and the plain gradient step sized to the
# same quadratic KL.

# %%
from lmrl_course.rl.trpo import make_fisher_vector_product, trust_region_step_size

damping = 0.1
fvp_big = make_fisher_vector_product(policy, obs, damping=damping)       # v ↦ (F + ξI) v
s = cg(fvp_big, g, iters=10)                                            # s ≈ (F + ξI)⁻¹ g
As = fvp_big(s)
sFs = (s @ As - damping * s @ s).item()                                 # sᵀFs = sᵀ(F + ξI)s − ξ‖s‖²
gFg = (g @ fvp_big(g) - damping * g @ g).item()
print(f"sᵀFs / sᵀ(F+ξI)s = {sFs / (s @ As).item():.3f}  (ξ = {damping})")
print(f"{'δ':>6s} | {'package β: ½βsᵀFβs / δ':>23s} {'exact KL̄ / δ':>13s} | {'undamped β: exact KL̄ / δ':>25s} "
      f"| {'plain step: exact KL̄ / δ':>24s}")
for delta in [0.001, 0.01, 0.05, 0.2]:
    beta = trust_region_step_size(s, As, delta)                          # √(2δ / sᵀ(F + ξI)s), the package's
    beta_undamped = math.sqrt(2 * delta / sFs)
    beta_plain = math.sqrt(2 * delta / gFg)
    print(f"{delta:6.3f} | {0.5 * beta ** 2 * sFs / delta:23.3f} {kl_of_step(beta * s) / delta:13.3f} | "
          f"{kl_of_step(beta_undamped * s) / delta:25.3f} | {kl_of_step(beta_plain * g) / delta:24.3f}")
print(f"\n{'ξ':>6s}  sᵀFs / sᵀ(F+ξI)s   exact KL̄ / δ of the package's step at δ = 0.01")
for lam in [0.0, 0.01, 0.1, 1.0]:
    fvp_lam = make_fisher_vector_product(policy, obs, damping=lam)
    s_lam = cg(fvp_lam, g, iters=10)
    A_lam = fvp_lam(s_lam)
    ratio = 1 - lam * (s_lam @ s_lam).item() / (s_lam @ A_lam).item()
    print(f"{lam:6.2f}  {ratio:17.3f}   {kl_of_step(trust_region_step_size(s_lam, A_lam, 0.01) * s_lam) / 0.01:.3f}")

# %% [markdown]
# Read the table column by column. The first is the same at every $\delta$: the package's step has a
# quadratic KL of $s^\top F s / s^\top(F+\xi I)s = 0.655\,\delta$ — that shortfall is the damping, by
# construction, not an error of the model. The undamped-β column isolates the model error: the exact
# KL is $1.03\,\delta$ at $\delta = 0.001$ and $1.27\,\delta$ at $\delta = 0.2$. On this batch the quadratic model
# *under*-estimates the KL, the more the longer the step, so the undamped step would break the
# constraint at every $\delta$ in the table; nothing fixes the sign of this error in general — that is
# what the line search below is for. The package's exact KL combines both: the damping's 0.655 and
# the model's growing under-estimate give 0.67 → 0.81, still below $\delta$ here because the damping
# shortfall is the larger of the two. The plain gradient step of the same quadratic KL follows its
# model more closely on this batch (1.01-1.09, also above $\delta$). The $\xi$ table: the shortening factor
# depends on $\xi$ *and* on the direction CG returns (here it falls with $\xi$: 0.86, 0.66, 0.29 for
# $\xi$ = 0.01, 0.1, 1); at $\xi = 0.01$ it is too weak to cover the model error, and the package's step
# lands at an exact $1.002\,\delta$, just outside the trust region. Without damping ($\xi = 0$) CG on the
# singular $F$ returns a direction whose "δ-sized" step has an exact KL 237 times $\delta$ on this
# batch — one batch, but reason enough to damp.
#
#
# The **backtracking line search** tries $\theta_\text{old} + 0.8^j\beta s$ for $j = 0, 1, \dots$ and
# accepts the first step whose *exact* KL is $\le\delta$ **and** whose surrogate $L$ actually improved; if no
# step passes, the update is skipped (θ stays θ_old). The package's `trpo_update` does steps 3-7:

# %%
from lmrl_course.rl.trpo import backtracking_line_search, trpo_update

for delta in [0.01, 0.2]:
    info = trpo_update(policy, obs, actions, adv, max_kl=delta, damping=0.1, cg_iters=10)
    with torch.no_grad():
        kl_now = kl_divergence(old_dist, policy.distribution(obs)).mean().item()
    print(f"δ = {delta}: accepted {info['accepted']} after {info['backtracks']} backtracks, step fraction "
          f"{info['step_frac']:.3f}, exact KL̄ {kl_now:.4f} ≤ δ, surrogate improved by {info['improvement']:.4f}")
    vector_to_parameters(theta_old, params)                           # undo, for the next experiment

# %% [markdown]
# > **Common mistake: no line search, or a line search that forgets to restore θ_old.** Taking the
# > full step $\beta s$ trusts two approximations at once: the quadratic KL model and the CG solution.
# > When CG's answer is bad, the step can be anything. The most direct way to get a bad answer is the
# > one the $\xi$ table above measured: conjugate gradient on the *undamped*, singular $F$ ($\xi = 0$).
# > The second mistake hides in the line search itself: when every candidate fails, it must put θ_old
# > back (`vector_to_parameters(old, params)`); forgetting that line leaves the policy at the last
# > candidate tried, $\theta_\text{old} + 0.8^9\beta s$ (`restore=False` runs that version). Below, on our batch
# > with $\delta = 0.01$: (a) the $\xi = 0$ step with and without the line search; (b) a direction that
# > cannot improve the surrogate (the *negative* natural direction, as a sign bug would give), where
# > every candidate fails, with and without the restore.

# %%
def evaluate_surrogate_and_kl():
    d = policy.distribution(obs)
    surr = (torch.exp(d.log_prob(actions) - old_dist.log_prob(actions)) * adv).mean()
    return surr.item(), kl_divergence(old_dist, d).mean().item()


def report(name):
    """Surrogate change, exact KL̄ and return (10 episodes) at the current θ; then put θ_old back."""
    surr, kl = evaluate_surrogate_and_kl()
    ev = evaluate_policy(policy, "CartPole-v1", n_episodes=10, greedy=False, seed=100)
    moved = (parameters_to_vector(params) - theta_old).norm().item()
    print(f"  {name:26s}: |θ − θ_old| = {moved:6.3f}, surrogate {surr - surr_old:+.4f}, KL̄ = {kl:7.4f} "
          f"({kl / delta:5.1f} δ), return {ev['mean']:5.1f} ± {ev['std'] / math.sqrt(10):4.1f}")
    vector_to_parameters(theta_old, params)


delta = 0.01
surr_old, _ = evaluate_surrogate_and_kl()
fvp_undamped = make_fisher_vector_product(policy, obs, damping=0.0)
s_bad = cg(fvp_undamped, g, iters=10)                                  # CG on a singular matrix
step_bad = trust_region_step_size(s_bad, fvp_undamped(s_bad), delta) * s_bad
print("(a) CG without damping")
vector_to_parameters(theta_old + step_bad, params)                     # mistake 1: no line search
report("no line search")
info = backtracking_line_search(policy, evaluate_surrogate_and_kl, step_bad, max_kl=delta)
print(f"  line search: accepted = {info['accepted']} after {info['backtracks']} backtracks, step fraction {info['step_frac']:.3f}")
report("line search")
print("(b) a direction that cannot improve the surrogate")
step_wrong = -trust_region_step_size(s, As, delta) * s                 # −βs: the sign bug
info = backtracking_line_search(policy, evaluate_surrogate_and_kl, step_wrong, max_kl=delta, restore=False)
print(f"  line search: accepted = {info['accepted']} after {info['backtracks']} tries")
report("forgets to restore θ_old")                                      # mistake 2
info = backtracking_line_search(policy, evaluate_surrogate_and_kl, step_wrong, max_kl=delta)
report("line search (restores)")

# %% [markdown]
# (a) Without damping the full step has a KL 237 times $\delta$, does not even raise the surrogate
# (−0.022), and the return falls to about 21; the line search backtracks 8 times, to 17 % of the step,
# whose exact KL is $0.5\,\delta$ and whose surrogate rises (+0.003). Its return, 445 ± 25 against
# 494 ± 6 at θ_old, is 1.9 combined standard errors lower: 10 episodes cannot tell whether that small
# step hurt, but it is far from the collapse to 21. (b) Along the wrong direction every candidate
# fails; the correct version puts θ_old back exactly (|θ − θ_old| = 0), the forgetful one keeps
# $0.8^9 \approx 13\,\%$ of the wrong step. Forgetting the restore is a correctness bug: here it left θ
# $0.8^9$ of a bad step away and lowered the surrogate it was meant to improve by 0.0004 (KL̄ 0.0001),
# with no measurable effect on the return (478 ± 9 against 494 ± 6: 1.4 combined standard errors
# apart). We have no run in
# which it hurt; only a test that forces a rejection catches it.
#
# **Does it matter over a whole run?** One batch is one draw. The file `assets/trpo_mistakes.json`
# (made by `python -m lmrl_course.scripts.make_trpo_mistakes`) holds full TRPO runs on CartPole-v1,
# five seeds per version, at the package defaults except a small damping $\xi = 0.001$, a larger
# $\delta = 0.05$ and a 40,000-step budget; these settings were picked on seed 200 to
# expose the mistake, the runs shown are seeds 0-4. At the defaults ($\xi = 0.1$, $\delta = 0.02$) the full
# step almost always passes: in section 7's run (seed 0, printed there) 1 of 26 updates backtracked,
# and in the benchmark `bench/bench_trpo_step_size.py` (seeds 100-104, not run here; stored in
# `bench/results/trpo_step_size_seeds100-104.json`) 3 of 158 did, so at the defaults removing the line search
# would change only a few updates (not run here). The harm below comes with weaker damping *and* a larger δ;
# these runs do not separate the two. Left: the 20-episode mean return; right: the exact KL of every update's step.

# %%
import json

from lmrl_course.paths import ASSETS_DIR

with open(f"{ASSETS_DIR}/trpo_mistakes.json") as f:
    mistakes = json.load(f)
print(mistakes["description"])
print(f"δ = {mistakes['max_kls']}, damping ξ = {mistakes['damping']}, seeds {mistakes['seeds']}, "
      f"{mistakes['total_timesteps']:,} env steps per run; made on {mistakes['machine']}")
labels = {"backtracking": "TRPO (line search)", "none": "no line search"}
colors = {"backtracking": "tab:green", "none": "tab:red"}
grid = np.linspace(0, mistakes["total_timesteps"], 61)
max_kl = mistakes["max_kls"][-1]
finals = {}
fig, ax = plt.subplots(1, 2, figsize=(10, 3.3))
print(f"\n{'version':26s} {'final return, mean [min, max]':31s} {'updates with KL̄ > 2δ':>21s} "
      f"{'largest KL̄ / δ':>15s} {'rejected updates':>17s}")
for variant in mistakes["variants"]:
    label = labels[variant]
    runs = [r for r in mistakes["runs"] if r["line_search"] == variant and r["max_kl"] == max_kl]
    curves = np.stack([np.interp(grid, r["env_steps"], r["mean_return"]) for r in runs])   # (seeds, points)
    ax[0].plot(grid, curves.mean(0), c=colors[variant], label=label)
    ax[0].fill_between(grid, curves.min(0), curves.max(0), color=colors[variant], alpha=0.2)
    kls = np.concatenate([r["kl"] for r in runs])
    steps = np.concatenate([r["env_steps"] for r in runs])
    ax[1].scatter(steps, np.maximum(kls, 1e-4) / max_kl, s=6, color=colors[variant], label=label, alpha=0.6)
    final = np.array([r["mean_return"][-1] for r in runs])
    finals[variant] = dict(zip([r["seed"] for r in runs], final))
    rejected = sum(r["accepted"].count(False) for r in runs)
    print(f"{label:26s} {final.mean():6.1f} [{final.min():5.1f}, {final.max():5.1f}]{'':13s} "
          f"{(kls > 2 * max_kl).sum():>6d} of {len(kls):<5d}     {kls.max() / max_kl:11.1f} {rejected:>13d}")
ax[0].set_xlabel("environment steps"); ax[0].set_ylabel("mean return (last 20 episodes)")
ax[0].set_title(f"CartPole-v1, δ = {max_kl}, ξ = {mistakes['damping']}: mean and min-max over {len(runs)} seeds", fontsize=9)
ax[0].legend(fontsize=8); ax[0].grid(alpha=0.3)
ax[1].axhline(1.0, c="k", ls="--", lw=1, label="KL̄ = δ")
ax[1].set_yscale("log"); ax[1].set_xlabel("environment steps"); ax[1].set_ylabel("exact KL̄ of the step / δ")
ax[1].set_title("every update of every seed", fontsize=9); ax[1].legend(fontsize=8); ax[1].grid(alpha=0.3)
plt.show()
for seed in mistakes["seeds"]:
    print(f"seed {seed}: final return " + ", ".join(f"{labels[v]} {finals[v][seed]:5.1f}" for v in finals))
run0 = next(r for r in mistakes["runs"] if r["line_search"] == "none" and r["seed"] == 0)
worst = int(np.argmin(np.diff(run0["mean_return"])))   # mean_return[i] is measured on batch i, before update i's step
print(f"seed 0, no line search: the step of update {worst + 1} of {len(run0['kl'])} (KL̄ = {run0['kl'][worst] / max_kl:.1f} δ) "
      f"took the return from {run0['mean_return'][worst]:.1f} to {run0['mean_return'][worst + 1]:.1f}; "
      f"returns after it: {run0['mean_return'][worst + 1:]}")

# %% [markdown]
# Without the line search, 48 of the 200 updates (five seeds × 40) move the policy by more than
# $2\delta$ — up to 27 $\delta$ — while TRPO's steps never exceed $\delta$. The returns: the mean final return
# is 214 against 379, and 4 of the 5 seeds end lower (seed 1 is the exception: 346 against 140; the
# bands overlap). Seed 0 without the line search shows a collapse like section 1's in a real run: one step
# of about 2.7 δ ($\overline{\mathrm{KL}} \approx 0.13$ on its batch's states) took its return from 454 to 9, and
# it stayed near 10 on the remaining three batches. The KL at which a step hurts is not fixed, though: the runs
# without the line search took steps of up to 27 δ, yet the other four seeds end at 120–376, not near 10. The
# line search removes the steps far outside the trust region; it does not make every accepted step harmless.
# The same runs say something about the second mistake: TRPO rejected none of the 200 updates (last
# column), so a line search without the restore would have given bit-for-bit the same runs (the file
# therefore holds no `no_restore` runs). Such a bug stays invisible until the line search first
# rejects a step, as in (b) — tests that force a rejection (see `tests/test_trpo.py`) are the way to
# catch it.

# %% [markdown]
# ## 6 · Play: the trust region of a two-parameter policy
#
# A bandit with three arms (means 0.2, 0.5, 0.8) and a softmax policy with logits $(\theta_1, \theta_2, 0)$:
# two parameters, so we can draw everything. The contours are the expected reward $J(\theta)$; the red
# ellipse is the trust region $\tfrac12\Delta\theta^\top F\Delta\theta = \delta$ around the current $\theta$ (the black
# dashed curve is the *exact* KL $= \delta$). Both steps below are scaled to the edge of the ellipse:
# the **vanilla** step along $g$ and the **natural** step along $F^{-1}g$. Move $\delta$ and the starting
# point; the caption reports how much $J$ each step gains. Near a flat, saturated region (a large
# $\theta_1$ or a very negative $\theta_2$) the ellipse stretches: the same KL allows long moves where the
# policy barely changes.

# %%
import ipywidgets as widgets
from lmrl_course.widgets import PlotWidget

mu = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)


def bandit_J(t1, t2):
    z = torch.stack([t1, t2, torch.zeros_like(t1)], -1)
    return (torch.softmax(z, -1) * mu).sum(-1)


def bandit_kl(p_old, t1, t2):
    z = torch.stack([t1, t2, torch.zeros_like(t1)], -1)
    logq = torch.log_softmax(z, -1)
    return (p_old * (p_old.log() - logq)).sum(-1)


def draw_trust_region(fig, max_kl, theta1, theta2):
    theta = torch.tensor([theta1, theta2], dtype=torch.float64)
    p = torch.softmax(torch.cat([theta, torch.zeros(1, dtype=torch.float64)]), -1)
    Jv = (p * mu).sum()
    g = (p * (mu - Jv))[:2]                                    # ∇J w.r.t. (θ1, θ2)
    F = (torch.diag(p) - torch.outer(p, p))[:2, :2]            # Fisher of the softmax, first two logits
    nat = torch.linalg.solve(F, g)
    step_nat = math.sqrt(2 * max_kl / (nat @ F @ nat)) * nat
    step_van = math.sqrt(2 * max_kl / (g @ F @ g)) * g
    ax = fig.subplots()
    t1, t2 = torch.meshgrid(torch.linspace(-4, 4, 161, dtype=torch.float64),
                            torch.linspace(-4, 4, 161, dtype=torch.float64), indexing="xy")
    cs = ax.contourf(t1, t2, bandit_J(t1, t2), levels=20, cmap="viridis", alpha=0.8)
    fig.colorbar(cs, ax=ax, label="J(θ)")
    ax.contour(t1, t2, bandit_kl(p, t1, t2), levels=[max_kl], colors="k", linestyles="--", linewidths=1)
    angles = torch.linspace(0, 2 * math.pi, 200, dtype=torch.float64)
    L = torch.linalg.cholesky(torch.linalg.inv(F))              # ellipse ½ΔᵀFΔ = δ: Δ = √(2δ)·L·u, |u| = 1
    ell = math.sqrt(2 * max_kl) * (L @ torch.stack([angles.cos(), angles.sin()]))
    ax.plot(theta1 + ell[0], theta2 + ell[1], c="tab:red", lw=1.5)
    ax.annotate("", xy=(theta1 + step_van[0].item(), theta2 + step_van[1].item()), xytext=(theta1, theta2),
                arrowprops=dict(arrowstyle="->", color="white", lw=2))
    ax.annotate("", xy=(theta1 + step_nat[0].item(), theta2 + step_nat[1].item()), xytext=(theta1, theta2),
                arrowprops=dict(arrowstyle="->", color="tab:orange", lw=2))
    ax.plot([], [], c="white", lw=2, label="vanilla step (along g)")
    ax.plot([], [], c="tab:orange", lw=2, label="natural step (along F⁻¹g)")
    ax.plot([], [], c="tab:red", label="½ΔθᵀFΔθ = δ")
    ax.plot([], [], c="k", ls="--", label="exact KL = δ")
    ax.set_xlim(-4, 4); ax.set_ylim(-4, 4); ax.set_aspect("equal")
    ax.set_xlabel("θ1 (logit of arm 0, μ = 0.2)"); ax.set_ylabel("θ2 (logit of arm 1, μ = 0.5)")
    ax.legend(fontsize=7, loc="lower left")
    gain = lambda st: (bandit_J(theta[0] + st[0], theta[1] + st[1]) - Jv).item()
    return (f"J = {Jv.item():.3f}; gain of the vanilla step {gain(step_van):+.4f}, natural step {gain(step_nat):+.4f} "
            f"(same predicted KL δ = {max_kl:.3f})")


PlotWidget(draw_trust_region,
           {"max_kl": widgets.FloatLogSlider(value=0.05, base=10, min=-3, max=0, step=0.1, description="δ"),
            "theta1": widgets.FloatSlider(value=1.0, min=-3, max=3, step=0.25, description="θ1"),
            "theta2": widgets.FloatSlider(value=-1.0, min=-3, max=3, step=0.25, description="θ2")},
           figsize=(5.5, 4.5))

# %% [markdown]
# ## 7 · TRPO on CartPole-v1
#
# `lmrl_course.rl.train_trpo` runs the pseudocode: 8 environments × 128 steps per update, GAE
# ($\gamma = 0.99$, $\lambda = 0.97$) with a separate value network as baseline (fitted by Adam after each
# policy step), normalised advantages, $\delta = 0.02$, 10 CG iterations, damping 0.1, and the line search
# (factor 0.8, up to 10 tries).

# %%
from lmrl_course.rl import TRPOConfig, plot_learning_curves, train_trpo

start = time.perf_counter()
history = train_trpo("CartPole-v1", TRPOConfig(total_timesteps=40_000), seed=0, stop_when_solved=True, progress=True)
print(f"took {time.perf_counter() - start:.2f} s")
print(f"solved at {history['solved_at_env_steps']} env steps; updates: {len(history['kl'])}, "
      f"accepted: {int(sum(history['accepted']))}, mean backtracks: {np.mean(history['backtracks']):.2f}")
kl_ratio = np.array(history["kl"]) / 0.02
backtracked = np.array(history["backtracks"]) > 0
print(f"exact KL̄ / δ of the steps taken: mean {kl_ratio.mean():.2f}, range {kl_ratio.min():.2f}-{kl_ratio.max():.2f}; "
      f"updates that backtracked: {backtracked.sum()}, their KL̄ / δ: {np.round(kl_ratio[backtracked], 2).tolist()}; "
      f"smallest KL̄ / δ without backtracking: {kl_ratio[~backtracked].min():.2f}")
fig, ax = plt.subplots(1, 2, figsize=(10, 3.3))
plot_learning_curves({"TRPO": history}, ax=ax[0], title="CartPole-v1")
ax[1].plot(history["env_steps"], history["kl"], "o-", ms=3, label="exact KL̄ of the accepted step")
ax[1].axhline(0.02, c="tab:red", ls="--", label="δ = max_kl")
ax[1].set_xlabel("environment steps"); ax[1].set_ylim(0, 0.03); ax[1].legend(fontsize=8); ax[1].grid(alpha=0.3)
plt.show()
print(f"greedy evaluation: {evaluate_policy(history['policy'], 'CartPole-v1', n_episodes=10, seed=100)['mean']:.1f}")

# %% [markdown]
# Every accepted update moves the policy by an exact KL below $\delta$ — on average $0.74\,\delta$, between
# $0.50\,\delta$ and $0.97\,\delta$. Damping shortens every step and the quadratic model's error changes it
# again, by amounts that vary from batch to batch (on section 5's batch, damping alone gave
# $0.655\,\delta$, the model's under-estimate lengthened that, and the package's step had an exact
# $0.67$-$0.81\,\delta$); the shortest step, $0.50\,\delta$, was a full step, and the one update that
# backtracked ended at $0.65\,\delta$. The step size is set by how much the *behaviour* may change, not
# by a learning rate. The line search guarantees a mean $\overline{\mathrm{KL}} \le \delta = 0.02$ over the
# batch's states (single states can move more) — below the 0.06-0.17 at which the return collapsed
# on section 1's batch.
#
# > **You should know.** TRPO's guarantees come at a price: second-order machinery (CG, Fisher products)
# > per update, a hard-to-combine-with-Adam update rule, and awkwardness with shared actor-critic
# > networks or dropout. PPO (notebook 07) keeps the idea — stay close to $\pi_{\theta_\text{old}}$ — with a
# > first-order clipped objective, and became the standard, including for language models.

# %% [markdown]
# ## Check yourself
#
# - Why is the KL between old and new policy a better measure of step size than $\lVert\Delta\theta\rVert$?
# - Why does $\overline{\mathrm{KL}}$ have zero gradient at $\theta_\text{old}$, and what is its Hessian?
# - Derive $\beta = \sqrt{2\delta/s^\top F s}$ from $\tfrac12(\beta s)^\top F(\beta s) = \delta$. With the damped
#   $\beta = \sqrt{2\delta/s^\top(F+\xi I)s}$, what is the quadratic KL of the step, and why is it below $\delta$?
# - How is $Fv$ computed without forming $F$? How many such products does one TRPO update need?
# - What two conditions must a step satisfy in the line search, and what happens if none does?
#
# **Next:** notebook 07 replaces the constrained second-order step with PPO's clipped objective, adds
# GAE and a handful of implementation details, and compares REINFORCE, TRPO and PPO side by side.
