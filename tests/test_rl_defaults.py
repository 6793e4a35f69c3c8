"""Per-environment defaults of the three trainers (``for_env`` / ``ENV_DEFAULTS``, used by ``cfg=None``).

The expected values below are written out by hand from the ``ENV_DEFAULTS`` comments (what a learner
reads), not read from the tables under test. Seeds 300+ are used by nothing else (notebooks use 0-13,
the bench and the held-out table 100-109, the solve-tests of test_ppo/test_trpo 1000+).
"""
import dataclasses
import warnings

import pytest
import torch

from lmrl_course.rl import (PPOConfig, ReinforceConfig, TRPOConfig, train_ppo, train_reinforce, train_trpo)
from lmrl_course.rl import ppo as ppo_module, reinforce as reinforce_module, trpo as trpo_module
from lmrl_course.scripts import make_rl_defaults_table

ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1")
CONFIGS = {"reinforce": ReinforceConfig, "trpo": TRPOConfig, "ppo": PPOConfig}
TRAINERS = {"reinforce": train_reinforce, "trpo": train_trpo, "ppo": train_ppo}
MODULES = {"reinforce": reinforce_module, "trpo": trpo_module, "ppo": ppo_module}

# (solved_threshold, total_timesteps) as the ENV_DEFAULTS comments document them.
DOCUMENTED = {
    ("reinforce", "CartPole-v1"): (475.0, 200_000),
    ("reinforce", "Acrobot-v1"): (-100.0, 200_000),
    ("reinforce", "Pendulum-v1"): (-200.0, 1_000_000),     # solved, slowly: see reinforce.ENV_DEFAULTS
    ("trpo", "CartPole-v1"): (475.0, 150_000),
    ("trpo", "Acrobot-v1"): (-100.0, 100_000),
    ("trpo", "Pendulum-v1"): (-200.0, 200_000),
    ("ppo", "CartPole-v1"): (475.0, 150_000),
    ("ppo", "Acrobot-v1"): (-100.0, 100_000),
    ("ppo", "Pendulum-v1"): (-200.0, 200_000),
}
# The other settings each comment names, beyond threshold and budget.
DOCUMENTED_EXTRA = {
    ("reinforce", "Acrobot-v1"): dict(reward_scale=0.1),
    ("reinforce", "Pendulum-v1"): dict(num_envs=1, num_steps=200, lr=3e-3, gamma=0.9, reward_scale=0.1,
                                       solved_window=20),
    ("trpo", "Acrobot-v1"): dict(reward_scale=0.1),
    ("trpo", "Pendulum-v1"): dict(gamma=0.9, gae_lambda=0.95, num_envs=4, num_steps=512, reward_scale=0.1),
    ("ppo", "Acrobot-v1"): dict(reward_scale=0.1),
    ("ppo", "Pendulum-v1"): dict(num_envs=4, num_steps=512, lr=1e-3, gamma=0.95, num_minibatches=32, reward_scale=0.1),
}


@pytest.mark.parametrize("algo,env_id", sorted(DOCUMENTED))
def test_for_env_returns_the_documented_setting(algo, env_id):
    cls = CONFIGS[algo]
    cfg = cls.for_env(env_id)
    threshold, budget = DOCUMENTED[(algo, env_id)]
    assert (cfg.solved_threshold, cfg.total_timesteps) == (threshold, budget)
    for name, value in DOCUMENTED_EXTRA.get((algo, env_id), {}).items():
        assert getattr(cfg, name) == value, name
    if env_id == "CartPole-v1":             # CartPole is the dataclass default itself (notebook 06 relies on it)
        assert cfg == cls()
    else:
        assert cfg != cls()
    # overrides win over the table, the rest of the table stays
    over = cls.for_env(env_id, total_timesteps=1234)
    assert over.total_timesteps == 1234 and over.solved_threshold == threshold


@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_every_trainer_documents_all_three_environments(algo):
    assert set(MODULES[algo].ENV_DEFAULTS) == set(ENVS)
    assert set(make_rl_defaults_table.PLAN[algo]) == set(ENVS)      # and the held-out table checks each


@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_unknown_environment_falls_back_with_a_warning(algo):
    cls = CONFIGS[algo]
    with pytest.warns(UserWarning, match=r"no documented defaults for 'MountainCar-v0'.*CartPole-v1 setting"):
        cfg = cls.for_env("MountainCar-v0", total_timesteps=999)
    assert cfg == cls(total_timesteps=999)

    def MyEnv():                          # an environment factory is not in the table either
        raise AssertionError("never built")

    with pytest.warns(UserWarning, match="'MyEnv'"):
        assert cls.for_env(MyEnv) == cls()
    with warnings.catch_warnings():       # a documented environment: no warning
        warnings.simplefilter("error")
        cls.for_env("Acrobot-v1")


@pytest.mark.parametrize("algo", sorted(CONFIGS))
def test_for_env_bad_input_is_a_clear_error(algo):
    cls = CONFIGS[algo]
    with pytest.raises(TypeError, match=r"no field\(s\) \['learning_rate'\].*total_timesteps"):
        cls.for_env("CartPole-v1", learning_rate=1e-3)
    with pytest.raises(TypeError, match="env_id must be a Gymnasium id"):
        cls.for_env(3)
    with pytest.raises(ValueError, match="total_timesteps"):      # the dataclass's own checks still run
        cls.for_env("Acrobot-v1", total_timesteps=0)
    with pytest.raises(TypeError, match=f"cfg must be a {cls.__name__} or None"):
        TRAINERS[algo]("CartPole-v1", cfg=dict(lr=1e-3))


class _StopAfterOneUpdate(Exception):
    pass


def _first_update(algo, env_id):
    """Run ``train_<algo>(env_id, cfg=None)`` for one update; return the history at that point."""
    seen = {}

    def stop(history):
        seen.update(history)
        raise _StopAfterOneUpdate

    with pytest.raises(_StopAfterOneUpdate):
        TRAINERS[algo](env_id, None, device="cpu", seed=300, callback=stop)
    return seen


@pytest.mark.parametrize("algo,env_id", [("trpo", e) for e in ENVS] + [("reinforce", "Pendulum-v1"),
                                                                         ("ppo", "Acrobot-v1")])
def test_cfg_none_runs_the_environment_default(algo, env_id):
    h = _first_update(algo, env_id)
    threshold, budget = DOCUMENTED[(algo, env_id)]
    assert (h["config"]["solved_threshold"], h["config"]["total_timesteps"]) == (threshold, budget)
    assert h["config"] == dataclasses.asdict(CONFIGS[algo].for_env(env_id))
    assert len(h["env_steps"]) == 1 and h["env_steps"][0] > 0


# ----------------------------------------------------------------------------------------------
# reward_scale (used by the Acrobot / Pendulum defaults) reaches the value targets of REINFORCE and TRPO
# ----------------------------------------------------------------------------------------------

def test_reinforce_reward_scale_scales_the_monte_carlo_returns(monkeypatch):
    seen = []
    real = reinforce_module.episode_returns

    def spy(episodes, *args, **kwargs):
        out = real(episodes, *args, **kwargs)
        seen.append((out, all(ep.terminated for ep in episodes), torch.cat([ep.rewards for ep in episodes])))
        return out

    monkeypatch.setattr(reinforce_module, "episode_returns", spy)
    for scale in (1.0, 0.1):
        train_reinforce("CartPole-v1", ReinforceConfig(total_timesteps=64, num_envs=2, num_steps=32, reward_scale=scale),
                        device="cpu", seed=301)
    (g1, term1, r1), (g01, term01, r01) = seen[0], seen[-1]
    assert term1 and term01                      # random CartPole episodes terminate: no bootstrap term
    assert torch.equal(r1, r01)                  # same seed, same first batch; logged rewards stay raw
    torch.testing.assert_close(g01, 0.1 * g1)


def test_trpo_reward_scale_scales_the_rewards_before_gae(monkeypatch):
    from lmrl_course.rl.rollout import Rollout
    seen = []
    real = Rollout.advantages_and_returns

    def spy(self, *args, **kwargs):
        seen.append(self.rewards.clone())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Rollout, "advantages_and_returns", spy)
    runs = {}
    for scale in (1.0, 0.1):
        seen.clear()
        h = train_trpo("Pendulum-v1", TRPOConfig(total_timesteps=128, num_envs=2, num_steps=64, reward_scale=scale),
                       device="cpu", seed=302)
        runs[scale] = (seen[0], h["episode_returns"])
    torch.testing.assert_close(runs[0.1][0], 0.1 * runs[1.0][0])
    assert (runs[1.0][0] < -0.5).any()           # Pendulum pays real costs: the comparison is not 0 = 0


def test_reward_scale_must_be_positive():
    for cls in (ReinforceConfig, TRPOConfig):
        with pytest.raises(ValueError, match="reward_scale"):
            cls(reward_scale=0.0)


def test_trpo_acrobot_default_solves_an_unused_seed():
    """The cheapest solve of the new defaults (about 5 s of CPU): TRPO, Acrobot-v1, cfg=None, seed 300."""
    h = train_trpo("Acrobot-v1", None, device="cpu", seed=300, stop_when_solved=True)
    assert h["solved_at_env_steps"] is not None and h["solved_at_env_steps"] <= 100_000
