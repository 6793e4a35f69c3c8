"""Multi-seed evidence for notebook 07: ``assets/ppo_pendulum.json`` and ``assets/ppo_ablation.json``.

    python -m lmrl_course.scripts.make_ppo_evidence                 # both files, seeds 200-204, 2 processes
                                                                    # (the ablation on CartPole-v1 and Acrobot-v1)
    python -m lmrl_course.scripts.make_ppo_evidence --only ablation --seeds 200 201 --workers 1

Seeds 200-204 are used nowhere else: the PPO defaults were tuned on seeds 0-13 and the held-out
table (``make_rl_defaults_table``) uses 100-109. Every run is one call of the package's ``train_ppo``
on the CPU with one torch thread; at most ``--workers`` runs (processes) at a time.

* **Pendulum** (``ppo_pendulum.json``): ``train_ppo("Pendulum-v1", None, seed=s)``, i.e. the documented
  default ``PPOConfig.for_env("Pendulum-v1")`` with its full budget, not stopped when solved.
* **Ablation** (``ppo_ablation.json``): starting from ``PPOConfig.for_env(env)`` (built here, so a
  change of the defaults regenerates with this one command) with only the budget set to
  ``--budget`` env steps (the learning rate is annealed over that budget), one change at a time:
  each PPO detail switched (``norm_adv`` off, ``anneal_lr`` off, ``clip_vloss`` on, ``ortho_init``
  off, ε = ``clip_coef`` 0.1, 0.3, 100 ≈ no clipping), and the three common mistakes of notebook 07:

  - ``recompute_old_logp``: the package's clipped loss is called with ``logp_old = logp_new.detach()``
    (the notebook's ``ppo_scratch(..., mistake="recompute_old_logp")``, one line, patched in);
  - ``truncation_as_termination``: the package's own switch (``PPOConfig.truncation_as_termination``);
  - ``train_on_autoreset_step``: ``Rollout.flatten`` keeps the autoreset steps (``valid`` ignored).

  For the default variant it also measures the bias of mistake 2 on each trained policy: GAE advantages
  of one 600-step rollout computed with and without the bootstrap at the time limit.

Both files are rewritten after every run and runs already in them are skipped (``--fresh`` starts
over), so an interrupted sweep resumes. Each run records its CPU seconds; the files record the
machine, the torch thread count and the number of parallel processes.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import torch

from lmrl_course.device import cpu_name
from lmrl_course.paths import ASSETS_DIR

PENDULUM_OUT = Path(ASSETS_DIR) / "ppo_pendulum.json"
ABLATION_OUT = Path(ASSETS_DIR) / "ppo_ablation.json"
SEEDS = [200, 201, 202, 203, 204]
WINDOW = 20
POINTS = 150

#: name -> (PPOConfig overrides, mistake patched in); "default" first.
VARIANTS = {
    "default": ({}, None),
    "mistake 1: recomputed logp_old": ({}, "recompute_old_logp"),
    "norm_adv off": (dict(norm_adv=False), None),
    "anneal_lr off": (dict(anneal_lr=False), None),
    "clip_vloss on": (dict(clip_vloss=True), None),
    "ortho_init off": (dict(ortho_init=False), None),
    "ε = 0.1": (dict(clip_coef=0.1), None),
    "ε = 0.3": (dict(clip_coef=0.3), None),
    "mistake 2: truncation as termination": (dict(truncation_as_termination=True), None),
    "mistake 3: autoreset steps trained on": ({}, "train_on_autoreset_step"),
    "ε = 100 (no clip)": (dict(clip_coef=100.0), None),
}


@contextlib.contextmanager
def mistake(name):
    """Patch one of notebook 07's common mistakes into the package's ``train_ppo`` (None: no patch)."""
    import lmrl_course.rl.ppo as ppo_module
    from lmrl_course.rl.rollout import Rollout

    if name is None:
        yield
        return
    if name == "recompute_old_logp":
        original = ppo_module.clipped_surrogate_loss

        def buggy(logp_new, logp_old, advantages, clip_coef=0.2, mask=None):
            return original(logp_new, logp_new.detach(), advantages, clip_coef, mask)   # BUG: "old" = new

        ppo_module.clipped_surrogate_loss = buggy
        try:
            yield
        finally:
            ppo_module.clipped_surrogate_loss = original
    elif name == "train_on_autoreset_step":
        original = Rollout.flatten

        def buggy(self, **per_step):                 # BUG: every step counts as a real transition
            return original(dataclasses.replace(self, valid=torch.ones_like(self.valid)), **per_step)

        Rollout.flatten = buggy
        try:
            yield
        finally:
            Rollout.flatten = original
    else:
        raise ValueError(f"unknown mistake {name!r}")


def subsample(n: int, points: int) -> np.ndarray:
    """Indices of at most ``points`` entries of a length-``n`` series, always keeping the last."""
    if n <= points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, points).round().astype(int))


def curve(h) -> dict:
    """The 20-episode moving average of the episode return against env steps, sub-sampled."""
    from lmrl_course.rl import moving_average

    ma = moving_average(h["episode_returns"], WINDOW)
    idx = subsample(len(ma), POINTS)
    return {"env_steps": [int(h["episode_env_steps"][i]) for i in idx],
            "mean_return": [round(float(ma[i]), 2) for i in idx]}


def truncation_bias(h, seed: int) -> dict:
    """Mistake 2 as a bias: GAE advantages of one rollout of the trained policy, with and without the
    bootstrap at the 500-step limit; mean over the valid steps within 50 steps of a truncation."""
    from lmrl_course.rl import RolloutCollector, make_vector_env

    envs = make_vector_env(h["env_id"], 8, seed=seed + 1000)
    rollout = RolloutCollector(envs, h["policy"], h["value_fn"], seed=seed + 1000).collect(600)
    envs.close()
    cfg = h["config"]
    out = {"truncations": int(rollout.truncated.sum()), "terminations": int(rollout.terminated.sum())}
    # steps until the next truncation of the same env (large where none follows)
    N, B = rollout.rewards.shape
    to_limit = torch.full((N, B), 10_000)
    for i in range(B):
        nxt = 10_000
        for t in range(N - 1, -1, -1):
            if rollout.truncated[t, i]:
                nxt = t
            to_limit[t, i] = nxt - t if nxt < 10_000 else 10_000
    near = rollout.valid & (to_limit < 50)
    far = rollout.valid & (to_limit >= 150)
    for key, bug in [("right", False), ("bug", True)]:
        adv, _ = rollout.advantages_and_returns(cfg["gamma"], cfg["gae_lambda"], truncation_as_termination=bug)
        out[f"adv_near_{key}"] = round(adv[near].mean().item(), 3) if near.any() else None
        out[f"adv_far_{key}"] = round(adv[far].mean().item(), 3) if far.any() else None
    return out


def run_one(job) -> dict:
    """One ``train_ppo`` run (in a worker process, one torch thread); returns its record."""
    from lmrl_course.device import set_determinism
    from lmrl_course.rl import PPOConfig, train_ppo

    kind, env_id, variant, seed, budget = job
    set_determinism(threads=1, deterministic=True)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if kind == "pendulum":
        h = train_ppo(env_id, None, device="cpu", seed=seed)
        patch = None
    else:
        overrides, patch = VARIANTS[variant]
        cfg = PPOConfig.for_env(env_id, total_timesteps=budget, **overrides)
        with mistake(patch):
            h = train_ppo(env_id, cfg, device="cpu", seed=seed)
    cpu = time.process_time() - cpu0
    rec = {"kind": kind, "env_id": env_id, "variant": variant, "seed": seed,
           "budget": h["config"]["total_timesteps"], "threshold": h["config"]["solved_threshold"],
           "solved_at": h["solved_at_env_steps"],
           "final_mean_return": round(float(np.mean(h["episode_returns"][-WINDOW:])), 2),
           "mean_clip_frac": round(float(np.mean(h["clip_frac"])), 4),
           "mean_approx_kl": round(float(np.mean(h["approx_kl"])), 6),
           "cpu_s": round(cpu, 2), "wall_s": round(time.perf_counter() - wall0, 2), **curve(h)}
    if kind == "pendulum":                   # on the full moving average, every episode
        from lmrl_course.rl import moving_average

        ma = moving_average(h["episode_returns"], WINDOW)
        steps = np.array(h["episode_env_steps"])
        below = np.nonzero(ma < rec["threshold"])[0]
        # the episode after which the moving average never drops below the threshold again
        last_below = below[-1] if len(below) else -1
        rec["stays_above_from"] = int(steps[last_below + 1]) if last_below + 1 < len(ma) else None
        rec["min_after_solved"] = (None if rec["solved_at"] is None else
                                   round(float(ma[steps >= rec["solved_at"]].min()), 2))
        rec["log_std"] = [round(float(x), 4) for x in h["policy"].log_std.detach()]
    if kind == "ablation" and variant == "default" and env_id == "CartPole-v1":
        rec["truncation_bias"] = truncation_bias(h, seed)
    return rec


def key(rec) -> tuple:
    return rec["kind"], rec["env_id"], rec["variant"], rec["seed"]


def load(path: Path, fresh: bool) -> list:
    if fresh or not path.exists():
        return []
    return json.loads(path.read_text())["runs"]


def write(path: Path, runs: list, meta: dict) -> None:
    order = list(VARIANTS)
    runs = sorted(runs, key=lambda r: (r["env_id"], order.index(r["variant"]) if r["variant"] in order else -1,
                                       r["seed"]))
    path.write_text(json.dumps(dict(meta, runs=runs), indent=1))


def main() -> None:
    from tqdm.auto import tqdm

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["pendulum", "ablation"], default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=SEEDS)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "Acrobot-v1"],
                        help="environments of the ablation (default: both that notebook 07 shows)")
    parser.add_argument("--budget", type=int, default=40_000, help="env steps per ablation run")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="ablation variants (names above)")
    parser.add_argument("--workers", type=int, default=2, help="parallel processes (at most 2 on a shared machine)")
    parser.add_argument("--fresh", action="store_true", help="ignore the runs already in the files")
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; known: {list(VARIANTS)}")
    machine = (f"{cpu_name()}, 1 torch thread per run, {args.workers} runs in parallel, "
               f"torch {torch.__version__.split('+')[0]}")
    files = {
        "pendulum": (PENDULUM_OUT, {
            "description": "train_ppo('Pendulum-v1', None, seed=s): PPOConfig.for_env('Pendulum-v1') with its full "
                           "budget, not stopped when solved; 20-episode moving-average return. Made by "
                           "python -m lmrl_course.scripts.make_ppo_evidence --only pendulum.",
            "machine": machine, "window": WINDOW}),
        "ablation": (ABLATION_OUT, {
            "description": "PPO details and common mistakes, one change at a time from PPOConfig.for_env(env) with "
                           "only the budget changed (each run's 'budget', lr annealed over it); unsolved runs have "
                           "solved_at None. Made by python -m lmrl_course.scripts.make_ppo_evidence --only ablation.",
            "machine": machine, "window": WINDOW,
            "variants": {name: {"overrides": o, "mistake": m} for name, (o, m) in VARIANTS.items()}}),
    }
    kinds = [args.only] if args.only else ["pendulum", "ablation"]
    runs = {k: load(files[k][0], args.fresh) for k in kinds}
    done = {key(r) for k in kinds for r in runs[k]}
    jobs = []
    if "pendulum" in kinds:
        jobs += [("pendulum", "Pendulum-v1", "default", s, None) for s in args.seeds]
    if "ablation" in kinds:
        jobs += [("ablation", env, v, s, args.budget) for env in args.envs for v in args.variants for s in args.seeds]
    jobs = [j for j in jobs if j[:4] not in done]
    print(f"{len(jobs)} runs to do ({len(done)} already in the files); {machine}", flush=True)
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers, maxtasksperchild=1) as pool:
        for rec in tqdm(pool.imap_unordered(run_one, jobs), total=len(jobs), desc="runs", unit="run"):
            runs[rec["kind"]].append(rec)
            path, meta = files[rec["kind"]]
            write(path, runs[rec["kind"]], meta)
            tqdm.write(f"{rec['env_id']} {rec['variant']} seed {rec['seed']}: solved at {rec['solved_at']}, "
                       f"final {rec['final_mean_return']}, {rec['cpu_s']} s CPU")
    for k in kinds:
        write(files[k][0], runs[k], files[k][1])
        print(f"wrote {files[k][0]}")


if __name__ == "__main__":
    main()
