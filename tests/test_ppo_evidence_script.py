"""The mistakes that make_ppo_evidence patches into train_ppo: each does what it says, and is undone."""
import numpy as np
import torch

import lmrl_course.rl.ppo as ppo_module
from lmrl_course.rl import PPOConfig, train_ppo
from lmrl_course.rl.rollout import Rollout
from lmrl_course.scripts.make_ppo_evidence import VARIANTS, mistake

TINY = PPOConfig(total_timesteps=3 * 8 * 64)


def test_recompute_old_logp_zeroes_the_ratio_diagnostics():
    right = train_ppo("CartPole-v1", TINY, seed=300)
    with mistake("recompute_old_logp"):
        bug = train_ppo("CartPole-v1", TINY, seed=300)
    assert max(right["clip_frac"]) > 0 and max(right["approx_kl"]) > 0      # the correct run does clip
    assert max(bug["clip_frac"]) == 0 and max(bug["approx_kl"]) == 0         # ratio exactly 1 throughout


def test_train_on_autoreset_step_keeps_every_step():
    seen = []
    original = Rollout.flatten

    def spy(self, **kw):
        out = original(self, **kw)
        seen.append((out["obs"].shape[0], self.valid.numel(), int(self.valid.sum())))
        return out

    Rollout.flatten = spy
    try:
        with mistake("train_on_autoreset_step"):
            train_ppo("CartPole-v1", TINY, seed=301)
        buggy = list(seen)
        seen.clear()
        train_ppo("CartPole-v1", TINY, seed=301)
    finally:
        Rollout.flatten = original
    assert all(m == n for m, n, _ in buggy)                      # with the patch: every (t, env) step is trained on
    assert all(m == v for m, _, v in seen)                       # without it: valid steps only ...
    assert any(v < n for _, n, v in seen)                        # ... and there were autoreset steps to drop


def test_patches_are_undone_and_unknown_names_refused():
    loss, flatten = ppo_module.clipped_surrogate_loss, Rollout.flatten
    for name in ("recompute_old_logp", "train_on_autoreset_step"):
        with mistake(name):
            pass
    assert ppo_module.clipped_surrogate_loss is loss and Rollout.flatten is flatten
    try:
        with mistake("recompute_old_logp"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert ppo_module.clipped_surrogate_loss is loss
    import pytest
    with pytest.raises(ValueError, match="unknown mistake"):
        with mistake("nope"):
            pass
    # every variant names real PPOConfig fields
    for overrides, _ in VARIANTS.values():
        PPOConfig.for_env("CartPole-v1", **overrides)
