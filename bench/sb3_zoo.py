"""stable-baselines3 PPO with rl-baselines3-zoo's published hyper-parameters, under the course's "solved" rule.

Bench-only (``pip install -r bench/requirements.txt``); the course never imports this. The settings
are copied by hand from rl-baselines3-zoo's ``hyperparams/ppo.yml`` (DLR-RM/rl-baselines3-zoo, read at
commit 00128b5d46d4; the CartPole-v1 block is marked "# Tuned"):

    CartPole-v1: n_envs 8, policy MlpPolicy, n_steps 32, batch_size 256, gae_lambda 0.8, gamma 0.98,
                 n_epochs 20, ent_coef 0.0, learning_rate lin_0.001, clip_range lin_0.2, n_timesteps 1e5
    Acrobot-v1:  normalize true, n_envs 16, policy MlpPolicy, n_steps 256, gae_lambda 0.94, gamma 0.99,
                 n_epochs 4, ent_coef 0.0, n_timesteps 1e6

as the zoo's ``ExperimentManager`` applies them: ``make_vec_env(env_id, n_envs, seed)`` (a ``DummyVecEnv`` of
``Monitor``-wrapped envs); ``normalize: true`` = ``VecNormalize`` of observations *and* rewards with the
algorithm's γ (the zoo copies ``gamma`` into the ``VecNormalize`` kwargs; clip 10, ε 1e-8 its defaults);
``lin_x`` = a schedule ``progress_remaining · x`` that decays to 0 over ``n_timesteps`` (so the budget is
part of the setting and is kept). Every key the YAML does not set keeps SB3 2.x's PPO default: batch_size
64 (Acrobot), learning_rate 3e-4 and clip_range 0.2 (Acrobot), vf_coef 0.5, max_grad_norm 0.5,
normalize_advantage True, no value clipping, no target_kl; ``MlpPolicy`` = separate actor and critic
MLPs 64-64 tanh, orthogonal init, one Adam (ε 1e-5). Runs are on the CPU with one torch thread.

"Solved" is the course's rule on *training* episodes: the mean undiscounted return of the last 20
finished episodes (the ``Monitor`` returns, which sit inside ``VecNormalize``: raw rewards) reaches the
threshold (475 CartPole, −100 Acrobot); training stops at that env step, ``num_timesteps`` counting every
sub-environment's step (SB3 resets inside the done step: no step is spent on the reset). The CPU and
wall seconds include building the envs and the model, like the course's runs.
"""
from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np


def _linear(start: float):
    return lambda progress_remaining: progress_remaining * start       # SB3: 1 at the start, 0 at the end


ZOO = {
    "CartPole-v1": dict(n_envs=8, normalize=False, total=100_000,
                        ppo=dict(n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                                 learning_rate=_linear(1e-3), clip_range=_linear(0.2))),
    "Acrobot-v1": dict(n_envs=16, normalize=True, total=1_000_000,
                       ppo=dict(n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0)),
}
THRESHOLD = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0}


def run_sb3_zoo(env_id: str, seed: int, window: int = 20, max_steps: Optional[int] = None) -> Dict:
    """Train SB3 PPO with the zoo's settings until solved; returns solved step, env steps, wall and CPU seconds."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    spec = ZOO[env_id]
    threshold = THRESHOLD[env_id]

    class Solved(BaseCallback):
        def __init__(self):
            super().__init__()
            self.returns, self.solved_at = [], None

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:              # Monitor sits inside VecNormalize: raw returns
                    self.returns.append(float(info["episode"]["r"]))
                    if len(self.returns) >= window and np.mean(self.returns[-window:]) >= threshold:
                        self.solved_at = int(self.num_timesteps)
                        return False
            return True

    torch.set_num_threads(1)
    wall0, cpu0 = time.perf_counter(), time.process_time()       # like the course's runs: construction included
    env = make_vec_env(env_id, n_envs=spec["n_envs"], seed=seed)
    if spec["normalize"]:
        env = VecNormalize(env, gamma=spec["ppo"]["gamma"])
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **spec["ppo"])
    cb = Solved()
    model.learn(total_timesteps=max_steps or spec["total"], callback=cb)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    env.close()
    return {"solved_at": cb.solved_at, "env_steps": int(model.num_timesteps), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "budget": max_steps or spec["total"]}
