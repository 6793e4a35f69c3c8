"""Precompute the training-craft figures of notebook 03 into ``assets/gpt_training_craft.json``.

    python -m lmrl_course.scripts.make_gpt_craft_assets [--lr-iters 300] [--init-iters 800] [--seeds 0 1]

Two experiments, each on several seeds (every run draws its own batches from its seed):

- **learning-rate sweep**: notebook 03's small GPT (2 layers, C = 64, T = 32, B = 32) trained for
  ``--lr-iters`` steps at peak learning rates 3e-4 … 1e-1 with the notebook's schedule shape
  (warmup 30, cosine to lr/10); the validation loss (20 random val batches) at the end.
- **initialisation scale**: the bench's "baby GPT" (4 layers, 4 heads, C = 128, T = 64, B = 12, no biases,
  lr 1e-3, warmup 100, cosine to 1e-4) trained for ``--init-iters`` steps with ``init_std=0.02``
  (GPT-2's σ) and ``init_std=None`` (σ = 1/√fan_in); the validation curve (20 batches every 100 steps).

Single-threaded and deterministic; on a shared 2-core machine the whole script takes about 15 minutes.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..data import CharTokenizer, load_text, train_val_split
from ..device import seed_everything, set_determinism
from ..gpt import GPT, GPTConfig
from ..lm_trainer import TrainConfig, train_lm
from ..paths import ASSETS_DIR

OUT = ASSETS_DIR / "gpt_training_craft.json"
LRS = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lr-iters", type=int, default=300)
    p.add_argument("--init-iters", type=int, default=800)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)

    set_determinism(threads=1, deterministic=True)
    text = load_text()
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    train_ids, val_ids = train_val_split(ids, 0.1)
    V = tok.vocab_size
    t_start = time.perf_counter()

    sweep = {"config": dict(n_layer=2, n_head=4, n_embd=64, block_size=32, batch_size=32, iters=args.lr_iters,
                            warmup_iters=30, min_lr="lr/10", eval_iters=20),
             "learning_rates": LRS, "seeds": args.seeds, "val_loss": {}}
    for seed in args.seeds:
        losses = []
        for lr in LRS:
            seed_everything(seed)
            model = GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64))
            cfg = TrainConfig(max_iters=args.lr_iters, batch_size=32, block_size=32, learning_rate=lr, min_lr=lr / 10,
                              warmup_iters=30, eval_interval=0, eval_iters=20, seed=seed)
            h = train_lm(model, train_ids, val_ids, cfg, progress=False)
            losses.append(h["val_loss"][-1])
            print(f"lr sweep seed {seed} lr {lr:g}: val {losses[-1]:.3f}  ({time.perf_counter() - t_start:.0f} s)",
                  flush=True)
        sweep["val_loss"][str(seed)] = losses

    init = {"config": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, bias=False,
                           iters=args.init_iters, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, eval_iters=20),
            "seeds": args.seeds, "runs": {}}
    for name, std in (("0.02", 0.02), ("1/sqrt(fan_in)", None)):
        init["runs"][name] = {}
        for seed in args.seeds:
            seed_everything(seed)
            model = GPT(GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False,
                                  init_std=std))
            cfg = TrainConfig(max_iters=args.init_iters, batch_size=12, block_size=64, learning_rate=1e-3,
                              min_lr=1e-4, warmup_iters=100, eval_interval=100, eval_iters=20, seed=seed)
            h = train_lm(model, train_ids, val_ids, cfg, progress=False)
            init["runs"][name][str(seed)] = {"iter": h["iter"], "val_loss": h["val_loss"]}
            print(f"init {name} seed {seed}: val {h['val_loss'][-1]:.3f}  ({time.perf_counter() - t_start:.0f} s)",
                  flush=True)

    out = {"lr_sweep": sweep, "init_scale": init, "torch_version": str(torch.__version__),
           "made_by": "python -m lmrl_course.scripts.make_gpt_craft_assets"}
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - t_start:.0f} s")
    return out


if __name__ == "__main__":
    main()
