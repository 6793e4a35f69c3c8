"""One process of the two-process data-parallel run of tests/test_ddp.py (not a test file itself).

    RANK=r LOCAL_RANK=r WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=p python tests/ddp_worker.py OUT_DIR

Joins the gloo group through ``lmrl_course.distributed.init_distributed`` (the variables are the ones
torchrun would set), trains each case of :data:`CASES` with ``train_lm`` and saves, per case, the
parameters, their last gradients and the history to ``OUT_DIR/rank<r>.pt``. The test module imports
the same cases, model and data to run the single-process references.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lmrl_course.data import CharTokenizer, load_text  # noqa: E402
from lmrl_course.gpt import GPT, GPTConfig  # noqa: E402
from lmrl_course.lm_trainer import TrainConfig, train_lm  # noqa: E402

# B = 8 sequences per step in both cases. "split": 2 processes x 1 micro-batch of 4 (the reference:
# 1 process accumulating 2 micro-batches of 4); "accumulate": 2 processes x 2 micro-batches of 2 each,
# with a gradient clip that acts (reference: 1 process, 4 micro-batches of 2).
_COMMON = dict(max_iters=4, batch_size=8, block_size=16, learning_rate=3e-3, min_lr=3e-4, warmup_iters=2,
               weight_decay=0.1, eval_interval=2, eval_iters=3, seed=5, amp=False)
CASES = {
    "split": TrainConfig(**_COMMON, grad_clip=0.0),
    "accumulate": TrainConfig(**_COMMON, grad_clip=0.05, micro_batch_size=2),
}
N_PROCESSES = 2


def corpus() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Train / val ids from the first 20k characters of Tiny Shakespeare (not periodic: every window differs)."""
    text = load_text()[:20_000]
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)  # (N,)
    return ids[:18_000], ids[18_000:], tok.vocab_size


def make_model(vocab_size: int) -> GPT:
    """The same float64 model in every process (seeded; DDP would broadcast rank 0's anyway)."""
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0)).double()


def run_case(cfg: TrainConfig) -> dict:
    """Train a fresh model with ``cfg``; return its parameters, last gradients and history."""
    train, val, V = corpus()
    model = make_model(V)
    history = train_lm(model, train, val, cfg, device="cpu", progress=False)
    return {"params": {n: p.detach().clone() for n, p in model.named_parameters()},
            "grads": {n: p.grad.detach().clone() for n, p in model.named_parameters()},
            "history": {k: history[k] for k in ("iter", "train_loss", "val_loss")}}


def main(out_dir: str) -> None:
    from lmrl_course.distributed import cleanup_distributed, init_distributed

    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    try:
        result = {name: run_case(cfg) for name, cfg in CASES.items()}
        torch.save(result, Path(out_dir) / f"rank{ctx.rank}.pt")
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    main(sys.argv[1])
