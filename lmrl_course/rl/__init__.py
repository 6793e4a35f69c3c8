"""RL core of the course: policies, returns/GAE, rollouts, REINFORCE, TRPO, PPO.

The math lives in small pure functions (tensors in, tensors out) so that the language-model RL of
:mod:`lmrl_course.rlhf` reuses them: :func:`gae`, :func:`normalize_advantages`,
:func:`reinforce_loss`, :func:`clipped_surrogate_loss`, :func:`value_loss`, :func:`approx_kl_k3`,
:func:`clip_fraction`, :func:`explained_variance`, :func:`conjugate_gradient`.
"""
from lmrl_course.rl.envs import MultiArmedBandit, env_spaces, make_vector_env
from lmrl_course.rl.evaluation import evaluate_policy
from lmrl_course.rl.plotting import moving_average, plot_learning_curves
from lmrl_course.rl.policies import CategoricalPolicy, GaussianPolicy, ValueNetwork, layer_init, make_policy, mlp
from lmrl_course.rl.ppo import (PPOConfig, approx_kl_k3, clip_fraction, clipped_surrogate_loss, explained_variance,
                                masked_mean, train_ppo, value_loss)
from lmrl_course.rl.reinforce import ReinforceConfig, reinforce_loss, train_reinforce
from lmrl_course.rl.returns import discounted_returns, gae, normalize_advantages
from lmrl_course.rl.rollout import EpisodeStats, Rollout, RolloutCollector
from lmrl_course.rl.trpo import (TRPOConfig, backtracking_line_search, conjugate_gradient, fisher_vector_product,
                                 flat_grad, make_fisher_vector_product, train_trpo, trpo_update)

__all__ = [
    "MultiArmedBandit", "env_spaces", "make_vector_env", "evaluate_policy", "moving_average", "plot_learning_curves",
    "CategoricalPolicy", "GaussianPolicy", "ValueNetwork", "layer_init", "make_policy", "mlp",
    "PPOConfig", "approx_kl_k3", "clip_fraction", "clipped_surrogate_loss", "explained_variance", "masked_mean",
    "train_ppo", "value_loss", "ReinforceConfig", "reinforce_loss", "train_reinforce",
    "discounted_returns", "gae", "normalize_advantages", "EpisodeStats", "Rollout", "RolloutCollector",
    "TRPOConfig", "backtracking_line_search", "conjugate_gradient", "fisher_vector_product", "flat_grad",
    "make_fisher_vector_product", "train_trpo", "trpo_update",
]
