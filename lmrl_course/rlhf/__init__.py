"""The capstone: RLHF on the course's own character-level GPT.

- :mod:`.annotator` — a simulated annotator with an inspectable taste (vowel-rich lines), also a rule reward
- :mod:`.rollout` — sampling responses with per-token log-probs, entropies and masks (KV-cached)
- :mod:`.kl` — per-token KL estimators k1, k2, k3, the exact KL, which estimator belongs in the reward and
  which in the loss, and an adaptive KL coefficient
- :mod:`.reward_model` — a Bradley–Terry reward model (GPT body + scalar head)
- :mod:`.trainer` — what the trainers share: config, sampling with a missing-EOS penalty, one update loop, history
- :mod:`.lm_ppo` — PPO with a per-token KL penalty, a value head and GAE (γ = 1)
- :mod:`.grpo` — GRPO (group-relative advantages, k3 KL loss) and RLOO (leave-one-out baseline)
- :mod:`.best_of_n` — best-of-n sampling and its KL, log n − (n−1)/n
- :mod:`.dpo` — Direct Preference Optimisation on the preference pairs, no reward model
- :mod:`.tasks` — the course's task (prompts that end where a verse line begins) and its recipes
"""
from .annotator import (CHEERFUL_WORDS, KeywordAnnotator, LengthNeutralVowelAnnotator, VowelAnnotator,
                        annotator_reward_fn, words_of)
from .best_of_n import best_of_n, best_of_n_kl
from .dpo import dpo_loss, sequence_logprobs, train_dpo
from .grpo import GroupConfig, GroupTrainer, group_advantages, group_loss, rloo_advantages
from .kl import AdaptiveKLController, exact_kl, expected_estimator_gradients, kl_k1, kl_k2, kl_k3
from .lm_ppo import (ActorCritic, LMPPOConfig, LMPPOTrainer, compute_rewards, evaluate_policy, lm_gae, lm_ppo_loss,
                     masked_whiten)
from .reward_model import (PreferenceData, RewardModel, bradley_terry_loss, encode_responses, make_preference_data,
                           preference_accuracy, preference_data_from_texts, reward_model_fn, train_reward_model)
from .rollout import LMRollout, decode_responses, last_token_index, response_logits, response_logprobs, sample_responses
from .tasks import course_annotator, line_prompts
from .trainer import RLHFConfig, RLHFTrainer, sample_prompts

__all__ = ["CHEERFUL_WORDS", "KeywordAnnotator", "LengthNeutralVowelAnnotator", "VowelAnnotator", "annotator_reward_fn", "words_of",
           "course_annotator", "best_of_n", "best_of_n_kl",
           "dpo_loss", "sequence_logprobs", "train_dpo", "GroupConfig", "GroupTrainer", "group_advantages",
           "group_loss", "rloo_advantages", "AdaptiveKLController", "exact_kl", "expected_estimator_gradients",
           "kl_k1", "kl_k2", "kl_k3", "ActorCritic", "LMPPOConfig", "LMPPOTrainer", "compute_rewards",
           "evaluate_policy", "lm_gae", "lm_ppo_loss", "masked_whiten", "PreferenceData", "RewardModel",
           "bradley_terry_loss", "encode_responses", "make_preference_data", "preference_accuracy",
           "preference_data_from_texts", "reward_model_fn", "train_reward_model", "LMRollout", "decode_responses",
           "last_token_index", "response_logits", "response_logprobs", "sample_responses", "line_prompts",
           "RLHFConfig", "RLHFTrainer", "sample_prompts"]
