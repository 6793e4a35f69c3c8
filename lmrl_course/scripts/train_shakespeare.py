"""Regenerate the shipped character-level Shakespeare GPT: ``assets/gpt_shakespeare.pt`` + ``.json``.

    python -m lmrl_course.scripts.train_shakespeare [--out assets/gpt_shakespeare.pt] [--threads 1]

Data-parallel, one process per CPU core or GPU (README, "Scaling up"):

    torchrun --standalone --nproc_per_node=2 -m lmrl_course.scripts.train_shakespeare --device cpu --out /tmp/ddp.pt

Each process trains on its own batches, the gradients are averaged, the global batch (16 sequences
of 128 characters per step) is the same for any number of processes; rank 0 alone prints, writes the
checkpoint and the report. The result is another model than the single-process one (other windows
per step); a full-length data-parallel run has not been measured against the shipped file.

Deterministic for a given thread count, torch version and CPU model: seeds, deterministic algorithms,
a seeded batch generator. Another CPU can pick other matrix-multiply kernels (MKL chooses by
processor), so the same command elsewhere gives other bits and a loss within about 0.01 (the shipped
file: 1.5528; regenerated on an AMD EPYC, 1 thread: 1.5594, in 21 min). The weights are stored in
float16 (half the file size); the reported validation loss is measured on the whole validation split
*after* reloading the stored file, so it is the loss of exactly what ships.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from ..data import CharTokenizer, load_text, train_val_split
from ..device import keep_freed_memory, seed_everything, set_determinism
from ..distributed import cleanup_distributed, init_distributed
from ..gpt import GPT, GPTConfig
from ..lm_trainer import TrainConfig, evaluate_split, load_checkpoint, save_checkpoint, train_lm
from ..paths import GPT_CHECKPOINT_PATH

# The shipped model: ~1.8M parameters (3.6 MB as float16); val loss 1.553 on the whole val split.
# init_std=0.02 (GPT-2's init; GPTConfig's default is now None = 1/sqrt(fan_in)) is what the shipped file was trained with;
# init_std=None (1/sqrt(fan_in)) learns faster (see bench/bench_gpt_train.py) and would give another model.
MODEL = dict(block_size=128, n_layer=4, n_head=4, n_embd=192, dropout=0.0, bias=False, init_std=0.02)
TRAIN = dict(max_iters=3000, batch_size=16, block_size=128, learning_rate=2e-3, min_lr=2e-4, warmup_iters=100,
             weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_interval=250, eval_iters=20, seed=0,
             compile=False, amp=False)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=GPT_CHECKPOINT_PATH, help="checkpoint path (.pt); "
                        "the report goes next to it with the suffix .json")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 was fastest on a "
                        "shared 2-core machine)")
    parser.add_argument("--max-iters", type=int, default=TRAIN["max_iters"])
    parser.add_argument("--dropout", type=float, default=MODEL["dropout"])
    parser.add_argument("--n-embd", type=int, default=MODEL["n_embd"])
    parser.add_argument("--learning-rate", type=float, default=TRAIN["learning_rate"])
    parser.add_argument("--micro-batch-size", type=int, default=None, help="sequences per forward/backward "
                        "pass (gradient accumulation when below batch_size / processes)")
    parser.add_argument("--eval-tokens", type=int, default=None, help="score the saved model on the first N "
                        "tokens of the validation split only (default: all of it; a quick smoke run)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda:LOCAL_RANK)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.eval_tokens is not None and args.eval_tokens < MODEL["block_size"] + 1:
        parser.error(f"--eval-tokens must be at least block_size + 1 = {MODEL['block_size'] + 1}")

    dist_ctx = init_distributed(args.device)  # rank 0 of 1 without torchrun
    try:
        return _train(args, argv, dist_ctx)
    finally:
        cleanup_distributed()


def _train(args, argv, dist_ctx) -> dict:
    device = dist_ctx.device
    log = print if dist_ctx.is_main else (lambda *a, **k: None)  # rank 0 alone prints
    set_determinism(threads=args.threads, deterministic=True)
    keep_freed_memory()  # no page faults on the activation buffers every step; results unchanged
    seed_everything(0)
    text = load_text()
    tokenizer = CharTokenizer.from_text(text)
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)  # (N,)
    train_data, val_data = train_val_split(ids, 0.1)

    model_cfg = GPTConfig(vocab_size=tokenizer.vocab_size, **{**MODEL, "dropout": args.dropout, "n_embd": args.n_embd})
    train_cfg = TrainConfig(**{**TRAIN, "max_iters": args.max_iters, "learning_rate": args.learning_rate,
                               "min_lr": args.learning_rate / 10, "micro_batch_size": args.micro_batch_size})
    model = GPT(model_cfg).to(device)
    log(f"model: {model.num_parameters():,} parameters | {asdict(model_cfg)}", flush=True)
    log(f"train: {asdict(train_cfg)} | threads {torch.get_num_threads()} | processes {dist_ctx.world_size}",
        flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    history = train_lm(model, train_data, val_data, train_cfg, device=device, progress=not args.no_progress)
    train_s = time.perf_counter() - t0
    if not dist_ctx.is_main:
        return {"history": history}  # the other ranks hold the same weights; rank 0 saves them
    for i, it in enumerate(history["iter"]):
        log(f"iter {it:5d} | train {history['train_loss'][i]:.4f} | val(~{train_cfg.eval_iters} batches) "
            f"{history['val_loss'][i]:.4f} | {history['ms_per_iter'][i]:.0f} ms/iter", flush=True)

    out = Path(args.out)
    save_checkpoint(out, model, tokenizer, train_cfg, dtype=torch.float16)
    shipped, _, _ = load_checkpoint(out, device=device)
    scored = val_data if args.eval_tokens is None else val_data[: args.eval_tokens]
    scope = ("whole validation split" if args.eval_tokens is None
             else f"first {len(scored)} tokens of the validation split")
    val_loss = evaluate_split(shipped, scored)
    train_loss = evaluate_split(shipped, train_data[: len(scored)])
    wall_s = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    metrics = {"val_loss": val_loss, "val_bits_per_char": val_loss / 0.6931471805599453,
               "train_loss_first_val_sized_chunk": train_loss, "val_tokens": len(scored) - 1,
               "eval": f"{scope}, consecutive windows of block_size, float16-stored weights"}
    save_checkpoint(out, model, tokenizer, train_cfg, metrics=metrics, dtype=torch.float16)

    report = {
        "model_config": asdict(model_cfg),
        "num_parameters": model.num_parameters(),
        "train_config": asdict(train_cfg),
        "metrics": metrics,
        "history": history,
        "train_time_s": train_s,
        "wall_time_s": wall_s,
        "cpu_time_s": cpu_s,
        "load_average_at_end": list(os.getloadavg()),
        "threads": torch.get_num_threads(),
        "device": str(device),
        "processes": dist_ctx.world_size,
        "torch_version": str(torch.__version__),
        "python_version": platform.python_version(),
        "checkpoint_bytes": out.stat().st_size,
        "command": (f"torchrun --nproc_per_node={dist_ctx.world_size} " if dist_ctx.world_size > 1 else "python ")
        + "-m lmrl_course.scripts.train_shakespeare "
        + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    log(f"val loss ({scope}) {val_loss:.4f} | {metrics['val_bits_per_char']:.3f} bits/char | "
        f"wall {wall_s:.0f} s | {out} ({out.stat().st_size / 1e6:.1f} MB)", flush=True)
    return report


if __name__ == "__main__":
    main()
