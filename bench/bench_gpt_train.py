"""Benchmark: train the standard small char-level Shakespeare GPT and compare with a reference.

    python bench/bench_gpt_train.py [--iters 2000] [--device cpu|cuda] [--compile] [--threads N] [--repeat 3]

Configuration (the usual "baby GPT" on Tiny Shakespeare): 4 layers, 4 heads, C = 128, T = 64, B = 12,
2000 iterations, dropout 0, float32, no biases. Training recipe (``RECIPE``, each part a flag): rotary
positions (``--pos-encoding rope``; ``learned`` gives the reference's learned table), AdamW (0.9, 0.99)
with weight decay 0.1 on the 2-D weights, lr 2e-3 with 100 warmup steps and cosine decay to 1e-4,
gradient clipping 1.0, Linear weights ~ N(0, 1/fan_in); ``--baseline-recipe`` gives the recipe before
issue 12 (learned positions, lr 1e-3). ``--seed`` sets the init and the batches. Reference (the best-known single-file GPT on the
same 2-core machine): 47 ms/iter (~16k tokens/s), 104 s total, val loss 1.886 at iter 2000.

Prints ms/iter, tokens/s, achieved GFLOP/s (≈ 6 · parameters · tokens/s), the final validation loss
(200 random val batches, and the whole validation split) and the ratios against the reference. On CUDA
the run is repeated with bf16 autocast. A benchmark never fails: it only prints.

Speed on a CPU: the run uses every core (``--threads``, default: all of them, like the reference) and
``lmrl_course.device.keep_freed_memory()`` (glibc keeps the activation buffers it would otherwise hand
back to the OS and page-fault in again every step; ``--no-keep-memory`` turns it off). On a shared or
virtual machine the same run can vary by ±15 % from minute to minute: ``--repeat 3`` runs it three
times and prints the median. Before and after each run it prints the load average and the speed of a
lone matmul of the model's size (this machine, quiet: about 175-180 GFLOP/s on 2 threads), so that a
slow figure can be told from a slow moment. ``bench_train_step.py`` compares the training loop with the
reference's recipe on the same machine at the same moment, which a figure from another day cannot.

What moves the validation loss here is the initialisation: GPT-2's N(0, 0.02²) for every Linear weight
(the reference's init; ``GPTConfig``'s default until it became 1/sqrt(fan_in)) is tuned for C = 768 and is 4x too small at C = 128;
``init_std=None`` (1/sqrt(fan_in) for the attention and MLP input matrices), which this benchmark uses,
gives val 1.74 instead of 1.90 at iteration 2000 (same seed, same batches). Zero-initialised residual
projections (1.902), no weight decay on the embeddings (1.900), or 1/sqrt(fan_in) also for the residual
projections (1.769) did not help. ``--init-std 0.02`` reproduces the reference's init.

Recipe search for issue 12 (goal: val <= 1.70 at iteration 2000, 200 val batches), on seed 0 only
(``--threads 1``; each line one run): the recipe before (lr 1e-3, floor 1e-4) 1.736; lr 2e-3 1.725;
lr 3e-3 1.763; lr 2e-3 with the cosine floor at 1e-5 1.736 or at 4e-4 1.726. From lr 2e-3, floor 1e-5
(1.736): beta2 0.95 1.732; token embedding std 0.1 instead of 0.02 (``--emb-std 0.1``) 1.728;
residual projections std 0.0035 instead of 0.02/sqrt(8) = 0.0071 (``--resid-std 0.0035``) 1.721;
warmup 30 without clipping 1.775. Seed-to-seed spread of one recipe (lr 2e-3, floor 1e-5, embedding std
0.1, seeds 0, 1, 2): 1.728, 1.727, 1.716, so single-seed differences under 0.01 are noise.
Combined (lr 2e-3, beta2 0.95, embedding std 0.1, residual std 0.0035): floor 1e-4 1.734, floor 4e-4
1.740; with zero residual projections 1.729; on the untuned seeds 1 and 2 (floor 1e-4): 1.730, 1.734.
No combination reached 1.70: the best runs are within the seed noise of 1.72-1.73, 0.01 below the old
recipe. ``RECIPE`` keeps the one change that helped on its own, lr 2e-3 (1.725 on seed 0).
On the untuned seed 1: the old recipe 1.741, lr 2e-3 1.722 (``--seed 1 --threads 1``).

**Rotary positions** (``GPTConfig(pos_encoding="rope")``, the recipe's default since; not tuned: the lr 2e-3
recipe above, learned table replaced by rotating q and k) reach the goal on every seed tried
(``--seed S --threads 1``; 200 random val batches, the whole validation split in brackets):

    seed      learned positions        rotary positions
    0         1.725                    1.665 (1.669)
    1         1.722                    1.664 (1.664)
    2         1.718 (1.718)            1.683 (1.684)

0.04-0.06 lower on the same seed, beyond the seed spread of either. Rotary positions give every layer
the offset t − s directly, where the learned table must learn 64 position vectors from 2000 batches
of 12. The price is speed: rotating q and k costs ~8 % of a training step on this CPU (bench_train_step.py).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from lmrl_course.data import CharTokenizer, load_text, train_val_split  # noqa: E402
from lmrl_course.device import (get_device, keep_freed_memory, seed_everything, set_determinism,  # noqa: E402
                                synchronize)
from lmrl_course.gpt import GPT, GPTConfig  # noqa: E402
from lmrl_course.lm_trainer import TrainConfig, evaluate_split, train_lm  # noqa: E402

# the training recipe (tuned on seed 0 only, see the module docstring); BASELINE_RECIPE is the one before
RECIPE = {"lr": 2e-3, "min_lr": 1e-4, "warmup": 100, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1,
          "grad_clip": 1.0, "emb_std": None, "resid_std": None}
BASELINE_RECIPE = {"lr": 1e-3, "min_lr": 1e-4, "warmup": 100, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1,
                   "grad_clip": 1.0, "emb_std": None, "resid_std": None}
REFERENCE = {"ms_per_iter": 47.0, "tokens_per_s": 16_000.0, "total_s": 104.0, "val_loss": 1.886}


def load_average() -> str:
    try:
        return "load average %.2f %.2f %.2f" % os.getloadavg()
    except OSError:
        return "load average n/a"


def matmul_gflops(device: torch.device, seconds: float = 0.5) -> float:
    """The machine's speed right now: GFLOP/s of a float32 (768, 512) @ (512, 512) matmul, the size of
    the model's MLP matmuls, repeated for ``seconds``. A slow reading means the CPU is shared or throttled."""
    a = torch.randn(768, 512, device=device)
    b = torch.randn(512, 512, device=device)
    a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    synchronize(device)
    return 2 * 768 * 512 * 512 * n / (time.perf_counter() - t0) / 1e9


def run(args, device: torch.device, amp: bool) -> dict:
    t_start = time.perf_counter()
    seed_everything(args.seed)  # the seed sets the init too (and, through TrainConfig.seed, the batches)
    text = load_text()
    tok = CharTokenizer.from_text(text)
    train_data, val_data = train_val_split(torch.tensor(tok.encode(text), dtype=torch.long))
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
                          bias=args.bias, init_std=args.init_std, pos_encoding=args.pos_encoding)).to(device)
    with torch.no_grad():  # the recipe's init, where it differs from GPT's (None: GPT's own)
        if args.emb_std is not None:  # the token embedding E, which is also the output matrix (tied)
            model.transformer.wte.weight.normal_(0.0, args.emb_std)
        if args.resid_std is not None:  # the two projections into the residual stream (c_proj)
            for name, p in model.named_parameters():
                if name.endswith("c_proj.weight"):
                    p.normal_(0.0, args.resid_std)
    cfg = TrainConfig(max_iters=args.iters, batch_size=12, block_size=64, learning_rate=args.lr, min_lr=args.min_lr,
                      warmup_iters=args.warmup, weight_decay=args.weight_decay, beta1=args.beta1, beta2=args.beta2,
                      grad_clip=args.grad_clip, eval_interval=0, eval_iters=args.eval_iters, seed=args.seed,
                      compile=args.compile, amp=amp)
    hist = train_lm(model, train_data, val_data, cfg, device=device, progress=args.progress)
    total_s = time.perf_counter() - t_start  # data, model, training and the eval_iters-batch estimate
    n_params = model.num_parameters()
    tps = hist["tokens_per_s"][-1]
    return {"params": n_params, "ms_per_iter": hist["ms_per_iter"][-1], "tokens_per_s": tps,
            "cpu_ms_per_iter": hist["cpu_ms_per_iter"][-1],
            "gflops": 6 * n_params * tps / 1e9, "val_loss": hist["val_loss"][-1], "train_loss": hist["train_loss"][-1],
            "val_loss_whole": evaluate_split(model, val_data), "total_s": total_s}


def report(label: str, r: dict, iters: int, eval_iters: int) -> None:
    print(f"--- {label}")
    print(f"parameters        {int(r['params']):,}")
    print(f"ms/iter           {r['ms_per_iter']:.1f}   (reference {REFERENCE['ms_per_iter']:.0f}; "
          f"speed-up x{REFERENCE['ms_per_iter'] / r['ms_per_iter']:.2f})")
    print(f"CPU ms/iter       {r['cpu_ms_per_iter']:.1f}   (CPU time of this process: what a step costs when "
          f"the CPU is shared)")
    print(f"tokens/s          {r['tokens_per_s']:,.0f}   (reference {REFERENCE['tokens_per_s']:,.0f}; "
          f"ratio x{r['tokens_per_s'] / REFERENCE['tokens_per_s']:.2f})")
    print(f"achieved GFLOP/s  {r['gflops']:.1f}   (6 * params * tokens/s)")
    print(f"train loss        {r['train_loss']:.4f}   (mean of the training minibatches)")
    print(f"val loss @ {iters:<6d} {r['val_loss']:.4f}   ({eval_iters} random val batches; reference "
          f"{REFERENCE['val_loss']:.3f} at 2000; difference {r['val_loss'] - REFERENCE['val_loss']:+.3f};"
          f" goal (issue 12) <= 1.70)")
    print(f"val loss, whole   {r['val_loss_whole']:.4f}   (every character of the validation split, in windows of 64)")
    print(f"total time        {r['total_s']:.1f} s   (reference {REFERENCE['total_s']:.0f} s; "
          f"ratio x{r['total_s'] / REFERENCE['total_s']:.2f}; goal < 120 s)")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: lmrl_course.device.get_device())")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow to start on CPU)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: every core, %d here); "
                   "1 is faster when other work shares the CPU" % (os.cpu_count() or 1))
    p.add_argument("--repeat", type=int, default=1, help="run N times and print the median (the CPU is noisy)")
    p.add_argument("--no-keep-memory", action="store_true", help="leave glibc's malloc settings alone")
    p.add_argument("--eval-iters", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bias", action="store_true", help="use biases in Linear/LayerNorm (default: none)")
    p.add_argument("--init-std", type=float, default=None, help="std of the Linear weights at init "
                   "(default: 1/sqrt(fan_in); 0.02 = GPT-2 / the reference)")
    p.add_argument("--pos-encoding", choices=("rope", "learned"), default="rope",
                   help="rotary positions (default, the recipe) or learned absolute ones (the reference's)")
    p.add_argument("--progress", action="store_true")
    r = p.add_argument_group("training recipe (defaults: the recipe of this benchmark, see above)")
    for flag, default in RECIPE.items():
        r.add_argument("--" + flag.replace("_", "-"), type=float, default=default,
                       help=f"default {default} (the previous recipe: {BASELINE_RECIPE[flag]})")
    r.add_argument("--baseline-recipe", action="store_true", help="the recipe before issue 12 (val 1.736 at 2000, "
                   "seed 0): " + ", ".join(f"{k}={v}" for k, v in BASELINE_RECIPE.items()))
    args = p.parse_args(argv)
    if args.baseline_recipe:
        for k, v in BASELINE_RECIPE.items():
            setattr(args, k, v)
        args.pos_encoding = "learned"
    args.warmup = int(args.warmup)

    device = get_device(args.device)
    set_determinism(threads=args.threads or os.cpu_count() or 1, deterministic=False)
    kept = False if args.no_keep_memory else keep_freed_memory()
    print(f"torch {torch.__version__} | device {device} | threads {torch.get_num_threads()} | "
          f"keep_freed_memory {kept} | compile {args.compile} | bias {args.bias} | init_std {args.init_std} | "
          f"positions {args.pos_encoding} | "
          f"iters {args.iters} | seed {args.seed}")
    print("recipe: " + ", ".join(f"{k}={getattr(args, k)}" for k in RECIPE))
    for amp in ([False, True] if device.type == "cuda" else [False]):
        label = f"{'bf16 autocast' if amp else 'float32'} on {device}"
        runs = []
        for i in range(args.repeat):
            print(f"before: {load_average()} | matmul {matmul_gflops(device):.0f} GFLOP/s")
            runs.append(run(args, device, amp=amp))
            report(f"{label}, run {i + 1} of {args.repeat}", runs[-1], args.iters, args.eval_iters)
            print(f"after: {load_average()} | matmul {matmul_gflops(device):.0f} GFLOP/s")
        if args.repeat > 1:
            median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            report(f"{label}, median of {args.repeat} runs", median, args.iters, args.eval_iters)


if __name__ == "__main__":
    main()
