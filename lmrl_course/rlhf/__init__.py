"""The capstone: RLHF on the course's own character-level GPT.

- :mod:`.annotator` — a simulated annotator with an inspectable taste (cheerful words), also a rule reward
- :mod:`.rollout` — sampling responses with per-token log-probs and masks (KV-cached)
- :mod:`.kl` — per-token KL estimators k1, k2, k3 and the exact KL
- :mod:`.reward_model` — a Bradley–Terry reward model (GPT body + scalar head)
- :mod:`.lm_ppo` — PPO with a per-token KL penalty, a value head and GAE (γ = 1)
- :mod:`.grpo` — GRPO (group-relative advantages, k3 KL loss) and RLOO (leave-one-out baseline)
- :mod:`.tasks` — the course's task (prompts that end where a verse line begins) and its recipes
- :mod:`.label_widget` — be the annotator: label pairs of lines yourself
"""
from .annotator import CHEERFUL_WORDS, KeywordAnnotator, VowelAnnotator, annotator_reward_fn
from .grpo import GroupConfig, GroupTrainer, group_advantages, group_loss, rloo_advantages
from .kl import exact_kl, kl_k1, kl_k2, kl_k3
from .label_widget import LabelWidget
from .lm_ppo import (ActorCritic, LMPPOConfig, LMPPOTrainer, compute_rewards, evaluate_policy, lm_gae, lm_ppo_loss,
                     masked_whiten, sample_prompts)
from .reward_model import (PreferenceData, RewardModel, bradley_terry_loss, encode_responses, make_preference_data,
                           preference_accuracy, preference_data_from_texts, reward_model_fn, train_reward_model)
from .rollout import LMRollout, decode_responses, last_token_index, response_logits, response_logprobs, sample_responses
from .tasks import line_prompts

__all__ = ["CHEERFUL_WORDS", "KeywordAnnotator", "VowelAnnotator", "encode_responses", "preference_data_from_texts", "annotator_reward_fn", "GroupConfig", "GroupTrainer",
           "group_advantages", "group_loss", "rloo_advantages", "exact_kl", "kl_k1", "kl_k2", "kl_k3", "ActorCritic",
           "LMPPOConfig", "LMPPOTrainer", "compute_rewards", "evaluate_policy", "lm_gae", "lm_ppo_loss",
           "masked_whiten", "sample_prompts", "PreferenceData", "RewardModel", "bradley_terry_loss",
           "make_preference_data", "preference_accuracy", "reward_model_fn", "train_reward_model", "LMRollout",
           "decode_responses", "last_token_index", "response_logits", "response_logprobs", "sample_responses",
           "line_prompts", "LabelWidget"]
