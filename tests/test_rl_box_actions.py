"""Continuous (Box) actions: the rollouts keep the *raw* Gaussian sample and its log-prob; only the
copy sent to the environment is clipped.

π_θ(a|s) = N(μ_θ(s), σ²) has support on all of ℝ. If a collector stored clip(a) (or log π(clip(a)|s)),
PPO's ratio π_θ(a)/π_θold(a), TRPO's surrogate and REINFORCE's log π(a|s) would be evaluated at an action
that was never sampled: the gradient of a different, biased objective (notebook 07 §10 measures that
bias). The fake environment below has a tight, asymmetric box, so that with σ = 1 most samples fall
outside it and clipping changes them; it records every action it receives, with the observation it
received it in. The references are independent of the code under test: the raw samples are recorded as
the policy's distribution draws them, and the log-prob is the Gaussian density written out by hand.
"""
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import lmrl_course.rl.ppo as ppo
import lmrl_course.rl.reinforce as reinforce
import lmrl_course.rl.trpo as trpo
from lmrl_course.rl.envs import make_vector_env
from lmrl_course.rl.policies import GaussianPolicy
from lmrl_course.rl.rollout import EpisodeCollector, RolloutCollector

LOW = np.array([-0.05, 0.0], dtype=np.float32)
HIGH = np.array([0.05, 0.2], dtype=np.float32)
OBS_DIM, ACT_DIM = 3, 2


class TightBoxEnv(gym.Env):
    """Random observations, a tight asymmetric action box, episodes of ``length`` steps (truncated).
    ``received`` holds (observation the action was taken in, action as received) for every step."""

    def __init__(self, length=5):
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (OBS_DIM,), np.float32)
        self.action_space = gym.spaces.Box(LOW, HIGH, dtype=np.float32)
        self.length, self.t, self.obs = length, 0, None
        self.received = []

    def _new_obs(self):
        self.obs = self.np_random.normal(size=OBS_DIM).astype(np.float32)
        return self.obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._new_obs(), {}

    def step(self, action):
        self.received.append((self.obs.copy(), np.array(action, copy=True)))
        self.t += 1
        reward = -float(np.sum(np.square(action)))
        return self._new_obs(), reward, False, self.t >= self.length, {}


class RecordingGaussianPolicy(GaussianPolicy):
    """A GaussianPolicy whose distributions record what they sample and what ``log_prob`` is asked about."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.samples = []          # (obs (b, obs_dim), raw action (b, act_dim)) per sample() call
        self.logp_inputs = []      # the actions passed to log_prob, per call

    def distribution(self, obs):
        dist = super().distribution(obs)
        sample, log_prob = dist.sample, dist.log_prob

        def recording_sample(sample_shape=torch.Size()):
            a = sample(sample_shape)
            self.samples.append((obs.detach().clone(), a.detach().clone()))
            return a

        def recording_log_prob(a):
            self.logp_inputs.append(a.detach().clone())
            return log_prob(a)

        dist.sample, dist.log_prob = recording_sample, recording_log_prob
        return dist


def hand_gaussian_logp(policy, obs, actions):
    """Σ_d log N(a_d; μ_d(s), σ_d²) = Σ_d [−½((a_d − μ_d)/σ_d)² − log σ_d − ½ log 2π], in float64."""
    with torch.no_grad():
        mean = policy(obs).double()
    log_std = policy.log_std.detach().double()
    z = (actions.double() - mean) / log_std.exp()
    return (-0.5 * z ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)


def raw_action_by_obs(policy):
    """{observation bytes: raw sampled action} over everything the policy sampled (observations are
    continuous random draws, so each one identifies one step)."""
    table = {}
    for obs, actions in policy.samples:
        for o, a in zip(obs, actions):
            table[o.numpy().tobytes()] = a
    return table


def assert_env_got_clipped_raw_actions(envs, raw):
    n = 0
    for env in envs:
        for obs, received in env.received:
            a = raw[obs.tobytes()].numpy()
            np.testing.assert_array_equal(received, np.clip(a, LOW, HIGH).astype(np.float32))
            n += 1
    assert n > 0


def assert_clipping_matters(actions):
    """Guard: the test is only meaningful if clipping changes the actions (it does for σ = 1)."""
    a = actions.numpy()
    outside = (a < LOW) | (a > HIGH)
    assert outside.mean() > 0.5, "the fake env's box must be tight enough that clipping changes most samples"


def test_rollout_collector_stores_the_raw_sample_and_its_log_prob():
    """What PPO and TRPO train on (``RolloutCollector``): actions and logp of the raw sample."""
    torch.manual_seed(0)
    policy = RecordingGaussianPolicy(OBS_DIM, ACT_DIM, hidden=(8,), log_std_init=0.0)
    envs = make_vector_env(lambda: TightBoxEnv(length=5), num_envs=2)
    rollout = RolloutCollector(envs, policy, None, device="cpu", seed=3).collect(12)
    raw_envs = [e.unwrapped for e in envs.envs]
    assert len(policy.samples) == 12                  # one draw per step, (B, act_dim) each
    raw = torch.stack([a for _, a in policy.samples])                                   # (N, B, act_dim)
    obs = torch.stack([o for o, _ in policy.samples])                                   # (N, B, obs_dim)
    assert_clipping_matters(raw)
    # the stored actions are the raw draws, bit for bit, not clip(a)
    assert torch.equal(rollout.actions, raw)
    # the stored log-prob is log N(raw a; μ(s), σ²) summed over action dimensions, not log π(clip(a)|s)
    ref = hand_gaussian_logp(policy, obs.reshape(-1, OBS_DIM), raw.reshape(-1, ACT_DIM)).reshape(12, 2)
    torch.testing.assert_close(rollout.logp.double(), ref, atol=1e-5, rtol=1e-5)
    clipped = torch.as_tensor(np.clip(raw.numpy(), LOW, HIGH))
    ref_clipped = hand_gaussian_logp(policy, obs.reshape(-1, OBS_DIM), clipped.reshape(-1, ACT_DIM)).reshape(12, 2)
    assert (ref - ref_clipped).abs().max() > 0.1      # the two log-probs are distinguishable
    # ... and the environment got the clipped copy (valid steps only: autoreset steps do not reach step())
    assert_env_got_clipped_raw_actions(raw_envs, raw_action_by_obs(policy))
    assert sum(len(e.received) for e in raw_envs) == rollout.num_valid
    envs.close()


def test_episode_collector_stores_the_raw_sample():
    """What REINFORCE trains on (``EpisodeCollector``): whole episodes of raw samples."""
    torch.manual_seed(0)
    policy = RecordingGaussianPolicy(OBS_DIM, ACT_DIM, hidden=(8,), log_std_init=0.0)
    made = []

    def factory():
        made.append(TightBoxEnv(length=4))
        return made[-1]

    collector = EpisodeCollector(factory, 3, policy, device="cpu", seed=5)
    episodes = collector.collect(20)
    raw = raw_action_by_obs(policy)
    actions = torch.cat([ep.actions for ep in episodes])                                # (M, act_dim)
    obs = torch.cat([ep.obs for ep in episodes])                                        # (M, obs_dim)
    assert actions.shape == (len(raw), ACT_DIM) and len(raw) >= 20
    assert_clipping_matters(torch.stack(list(raw.values())))
    for o, a in zip(obs, actions):            # the stored actions are the raw draws, bit for bit, not clip(a)
        assert torch.equal(a, raw[o.numpy().tobytes()])
    assert_env_got_clipped_raw_actions(made, raw)
    collector.close()


@pytest.mark.parametrize("algo", ["ppo", "trpo", "reinforce"])
def test_trainers_evaluate_log_probs_of_the_raw_samples_only(algo, monkeypatch):
    """One update of each trainer on the tight box: every action whose log-prob the trainer computes
    (rollout and update) is one of the raw draws, never a clipped one."""
    module, train, cfg = {
        "ppo": (ppo, ppo.train_ppo, ppo.PPOConfig(total_timesteps=32, num_envs=2, num_steps=16, num_minibatches=2,
                                                  update_epochs=1, hidden=(8,))),
        "trpo": (trpo, trpo.train_trpo, trpo.TRPOConfig(total_timesteps=32, num_envs=2, num_steps=16,
                                                        vf_epochs=1, vf_minibatches=2, hidden=(8,))),
        "reinforce": (reinforce, reinforce.train_reinforce,
                      reinforce.ReinforceConfig(total_timesteps=16, num_envs=2, num_steps=8, vf_epochs=1,
                                                vf_minibatches=2, hidden=(8,))),
    }[algo]
    policies = []

    def make_recording_policy(obs_space, act_space, hidden, ortho_init=True):
        policies.append(RecordingGaussianPolicy(obs_space.shape[0], act_space.shape[0], hidden, ortho_init=ortho_init))
        return policies[-1]

    monkeypatch.setattr(module, "make_policy", make_recording_policy)
    train(lambda: TightBoxEnv(length=5), cfg, device="cpu", seed=0)
    (policy,) = policies
    raw = {a.numpy().tobytes() for _, actions in policy.samples for a in actions}
    assert_clipping_matters(torch.cat([a for _, a in policy.samples]))
    evaluated = [a for batch in policy.logp_inputs for a in batch]
    assert len(evaluated) >= cfg.num_envs * cfg.num_steps
    assert all(a.numpy().tobytes() in raw for a in evaluated)
