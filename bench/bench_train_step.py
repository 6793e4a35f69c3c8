"""A/B of the training loop: the course's trainer against the reference's recipe, on this machine, now.

    python bench/bench_train_step.py [--blocks 40] [--steps 10] [--threads N]

The reference figure in ``bench_gpt_train.py`` (47 ms/iter) was measured on another day, and a shared,
virtual CPU drifts by ±15 % from minute to minute (``bench_gpt_train.py`` prints a matmul reading
next to every run to show it): one long run against a number from elsewhere cannot tell two loops
apart. Here both loops train the same model side by side, each in its own process (the allocator
setting is process-wide), taking turns: one process runs ``--steps`` steps while the other waits on a
pipe, then the other, ``--blocks`` times. Neighbouring blocks see the same machine, so the median of
their ratios cancels the drift.

- **reference recipe**: what the best-known single-file GPT does on a CPU: AdamW in its default
  (for-each) implementation, glibc's default allocator, a batch stacked from B Python slices.
- **course**: :func:`lmrl_course.lm_trainer.train_step` (fused AdamW from ``configure_optimizer``) on
  batches from ``get_batch`` (one gather), after :func:`lmrl_course.device.keep_freed_memory`.

Both, on the CPU: the benchmark GPT (4 layers, 4 heads, C = 128, T = 64, B = 12, no biases), the
warmup + cosine learning rate, gradient clipping 1.0, every core, the same batches. The mean training
losses printed agree to rounding, which says both did the same work. It only prints.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RECIPES = ("reference", "course")


def worker(recipe: str, threads: int) -> None:
    """Build the model, print ``ready``; then for each line ``n`` on stdin train n steps and print
    the seconds they took; on ``quit`` print the mean training loss."""
    import torch

    from lmrl_course.data import CharTokenizer, get_batch, load_text, train_val_split
    from lmrl_course.device import keep_freed_memory, set_determinism
    from lmrl_course.gpt import GPT, GPTConfig
    from lmrl_course.lm_trainer import TrainConfig, configure_optimizer, lr_at, train_step

    set_determinism(threads=threads, deterministic=False)
    if recipe == "course":
        keep_freed_memory()
    text = load_text()
    tok = CharTokenizer.from_text(text)
    train_data, _ = train_val_split(torch.tensor(tok.encode(text), dtype=torch.long))
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
                          bias=False, init_std=None))
    cfg = TrainConfig(max_iters=2000, batch_size=12, block_size=64, learning_rate=1e-3, min_lr=1e-4,
                      warmup_iters=100, weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, seed=0)
    T, B = cfg.block_size, cfg.batch_size
    gen = torch.Generator().manual_seed(cfg.seed)
    device = torch.device("cpu")

    if recipe == "course":
        optimizer = configure_optimizer(model, cfg, device)

        def step(it: int) -> torch.Tensor:
            x, y = get_batch(train_data, T, B, generator=gen)  # (B, T)
            return train_step(model, optimizer, x, y, lr_at(it, cfg), cfg)
    else:
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                       {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate,
                                      betas=(cfg.beta1, cfg.beta2))  # default: for-each, not fused, on a CPU

        def step(it: int) -> torch.Tensor:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(it, cfg)
            ix = torch.randint(len(train_data) - T, (B,), generator=gen)  # the draw get_batch makes
            x = torch.stack([train_data[i: i + T] for i in ix])  # (B, T)
            y = torch.stack([train_data[i + 1: i + 1 + T] for i in ix])  # (B, T)
            _, loss = model(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss.detach()

    model.train()
    it, total_loss = 0, torch.zeros(())
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            print(f"{float(total_loss) / max(it, 1):.6f}", flush=True)
            return
        t0 = time.perf_counter()
        for _ in range(int(line)):
            total_loss += step(it)
            it += 1
        print(f"{time.perf_counter() - t0:.6f}", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--blocks", type=int, default=40, help="turns per recipe")
    p.add_argument("--steps", type=int, default=10, help="training steps per turn")
    p.add_argument("--warmup", type=int, default=2, help="turns per recipe left out of the figures")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--worker", choices=RECIPES, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker, args.threads)
        return

    procs = {r: subprocess.Popen([sys.executable, __file__, "--worker", r, "--threads", str(args.threads)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for r in RECIPES}
    for proc in procs.values():
        assert proc.stdout.readline().strip() == "ready"

    def turn(recipe: str, n: int) -> float:
        procs[recipe].stdin.write(f"{n}\n")
        procs[recipe].stdin.flush()
        return 1000.0 * float(procs[recipe].stdout.readline()) / n  # ms/step

    print(f"{args.blocks} turns x {args.steps} steps per recipe, {args.threads} threads; "
          "load average %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    ms = {r: [] for r in RECIPES}
    for i in range(args.warmup + args.blocks):
        for recipe in RECIPES if i % 2 == 0 else RECIPES[::-1]:  # alternate who goes first
            ms[recipe].append(turn(recipe, args.steps))
    losses = {}
    for recipe, proc in procs.items():
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        losses[recipe] = float(proc.stdout.readline())
        proc.wait()

    ms = {r: v[args.warmup:] for r, v in ms.items()}
    ratios = [a / b for a, b in zip(ms["reference"], ms["course"])]  # > 1: the course is faster
    for r in RECIPES:
        med = statistics.median(ms[r])
        print(f"{r:<10} median {med:.1f} ms/step ({768 / med * 1000:,.0f} tokens/s); quartiles "
              f"{statistics.quantiles(ms[r], n=4)[0]:.1f}-{statistics.quantiles(ms[r], n=4)[2]:.1f}; "
              f"mean training loss {losses[r]:.4f}")
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    print(f"speed of the course's loop / the reference recipe's, median of {len(ratios)} neighbouring turns: "
          f"x{statistics.median(ratios):.3f} (quartiles x{q1:.3f}-x{q3:.3f}; > 1: the course's is faster)")
    print("load average %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
