"""Precompute the training-craft figures of notebook 03 into ``assets/gpt_training_craft.json``.

    python -m lmrl_course.scripts.make_gpt_craft_assets                    # every entry, one process
    python -m lmrl_course.scripts.make_gpt_craft_assets --only dropout     # this one, keep the others

Three experiments, each on several seeds (every run draws its own batches and initial weights from its
seed); ``--only NAME ...`` recomputes the named entries and keeps the others of ``--out`` as they are:

- ``lr_sweep``: notebook 03's small GPT (2 layers, C = 64, T = 32, B = 32) trained for ``--lr-iters``
  steps at peak learning rates 3e-4 … 1e-1 with the notebook's schedule shape (warmup 30, cosine to
  lr/10); the validation loss (20 random val batches) at the end. Seeds ``--seeds`` (0 1).
- ``init_scale``: the bench's "baby GPT" (4 layers, 4 heads, C = 128, T = 64, B = 12, no biases, lr 1e-3,
  warmup 100, cosine to 1e-4) trained for ``--init-iters`` steps with ``init_std=0.02`` (GPT-2's σ) and
  ``init_std=None`` (σ = 1/√fan_in); the validation curve (20 batches every 100 steps). Seeds ``--seeds``.
- ``dropout``: overfitting at a CPU budget. The small GPT with ``dropout`` 0, 0.1 and 0.2 trained for
  ``--dropout-iters`` steps on ``--dropout-fraction`` (5 %) of the training split, 10 evenly spaced
  pieces, with the notebook's schedule shape. Every ``--dropout-eval`` steps the loss in eval mode (no
  dropout) on 20 random batches of that subset and of the validation split; at the end
  ``evaluate_split`` on the whole subset and the whole validation split. Seeds ``--dropout-seeds``
  (0 1). ``train_lm`` is not used here because it reports the loss of the batches it trains on, in
  training mode, where dropout adds noise to it; the loop below is ``train_lm``'s (same ``lr_at``,
  ``configure_optimizer``, ``train_step``, batches and dropout RNG from the seed). Why these choices
  (pilot runs, dropout 0, seed 0): on the contiguous first 10 % the gap val − train was already 0.37 at
  step 250, against 0.04 on 10 evenly spaced pieces — the first plays read unlike the validation split,
  a gap that has nothing to do with memorising; and on 10 % in pieces the validation loss was still
  falling at step 2500, so a smaller subset is needed for overfitting to cost validation loss within
  the budget.

Single-threaded and deterministic: every run uses one torch thread, and ``--workers N`` runs the
``dropout`` runs in N processes at once (same results; only the wall clock changes). The script
re-executes itself under ``device.reproducible_cpu_env()``, like the notebook kernels. Each entry it
makes records the machine, the thread count, the number of workers and the CPU time of its runs,
and the ``init_std`` of its GPTs (``None`` = 1/√fan_in, the package default).
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import CharTokenizer, get_batch, load_text, train_val_split
from ..device import cpu_name, reproducible_cpu_env, seed_everything, set_determinism
from ..gpt import GPT, GPTConfig
from ..lm_trainer import TrainConfig, configure_optimizer, estimate_loss, evaluate_split, lr_at, train_lm, train_step
from ..paths import ASSETS_DIR

OUT = ASSETS_DIR / "gpt_training_craft.json"
LRS = [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
DROPOUTS = [0.0, 0.1, 0.2]


SMALL_INIT_STD = None   # the package default, σ = 1/√fan_in (what notebook 03's live runs use)


def small_gpt(V: int, dropout: float = 0.0) -> GPT:
    """Notebook 03's small GPT: 2 layers, 4 heads, C = 64, context 32, ``init_std = SMALL_INIT_STD``."""
    return GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64, dropout=dropout,
                         init_std=SMALL_INIT_STD))


def notebook_train_config(seed: int, **changes) -> TrainConfig:
    """Notebook 03's ``train_cfg`` (300 steps of 32 windows of 32, lr 3e-3 → 3e-4, warmup 30)."""
    base = dict(max_iters=300, batch_size=32, block_size=32, learning_rate=3e-3, min_lr=3e-4, warmup_iters=30,
                eval_interval=50, eval_iters=10, seed=seed)
    return TrainConfig(**{**base, **changes})


def machine(cpu_seconds: float, workers: int) -> dict:
    """Where and how an entry was made; ``cpu_seconds`` is the CPU time of all its runs together."""
    return {"machine": f"{platform.machine()} {cpu_name()}", "cpus": os.cpu_count(),
            "torch_threads": 1, "workers": workers, "cpu_seconds": round(cpu_seconds, 1),
            "made": time.strftime("%Y-%m-%d")}


def spread_subset(data: torch.Tensor, fraction: float, pieces: int = 10) -> torch.Tensor:
    """``pieces`` evenly spaced contiguous pieces of ``data`` (the first at the start, the last at the
    end), ``fraction`` of it in all, concatenated: (round(fraction · N / pieces) · pieces,)."""
    width = int(fraction * len(data) / pieces)
    starts = [round(i * (len(data) - width) / (pieces - 1)) for i in range(pieces)]
    return torch.cat([data[s: s + width] for s in starts])


def lr_sweep(args) -> dict:
    c0 = time.process_time()
    V, train_ids, val_ids = shakespeare()
    sweep = {"config": dict(n_layer=2, n_head=4, n_embd=64, block_size=32, batch_size=32, iters=args.lr_iters,
                            warmup_iters=30, min_lr="lr/10", eval_iters=20, init_std=SMALL_INIT_STD),
             "learning_rates": LRS, "seeds": args.seeds, "val_loss": {}}
    for seed in args.seeds:
        losses = []
        for lr in LRS:
            seed_everything(seed)
            model = small_gpt(V)
            cfg = notebook_train_config(seed, max_iters=args.lr_iters, learning_rate=lr, min_lr=lr / 10,
                                        eval_interval=0, eval_iters=20)
            h = train_lm(model, train_ids, val_ids, cfg, progress=False)
            losses.append(h["val_loss"][-1])
            print(f"lr sweep seed {seed} lr {lr:g}: val {losses[-1]:.3f}", flush=True)
        sweep["val_loss"][str(seed)] = losses
    return {**sweep, **machine(time.process_time() - c0, 1)}


def init_scale(args) -> dict:
    c0 = time.process_time()
    V, train_ids, val_ids = shakespeare()
    inits = {"0.02": 0.02, "1/sqrt(fan_in)": None}          # run name: GPTConfig.init_std
    init = {"config": dict(n_layer=4, n_head=4, n_embd=128, block_size=64, batch_size=12, bias=False,
                           iters=args.init_iters, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100, eval_iters=20,
                           init_std=inits),
            "seeds": args.seeds, "runs": {}}
    for name, std in inits.items():
        init["runs"][name] = {}
        for seed in args.seeds:
            seed_everything(seed)
            model = GPT(GPTConfig(vocab_size=V, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=False,
                                  init_std=std))
            cfg = TrainConfig(max_iters=args.init_iters, batch_size=12, block_size=64, learning_rate=1e-3,
                              min_lr=1e-4, warmup_iters=100, eval_interval=100, eval_iters=20, seed=seed)
            h = train_lm(model, train_ids, val_ids, cfg, progress=False)
            init["runs"][name][str(seed)] = {"iter": h["iter"], "val_loss": h["val_loss"]}
            print(f"init {name} seed {seed}: val {h['val_loss'][-1]:.3f}", flush=True)
    return {**init, **machine(time.process_time() - c0, 1)}


@functools.lru_cache(maxsize=1)
def shakespeare() -> tuple[int, torch.Tensor, torch.Tensor]:
    """(V, train ids, val ids): the course's 90/10 split of Tiny Shakespeare."""
    text = load_text()
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    return (tok.vocab_size, *train_val_split(ids, 0.1))


def run_jobs(jobs: list, workers: int) -> list:
    """``[job(*a) for job, a in jobs]``, in ``workers`` processes of one torch thread each (spawned, so
    every run starts from a fresh process: the results do not depend on ``workers``); a progress bar
    counts the finished runs. Each job returns a dict with its ``cpu_seconds``."""
    if workers == 1:
        return [job(*a) for job, a in tqdm(jobs, desc="runs")]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=set_determinism, initargs=(1, True)) as pool:
        futures = [pool.submit(job, *a) for job, a in jobs]
        for f in tqdm(as_completed(futures), total=len(futures), desc="runs"):
            f.result()
        return [f.result() for f in futures]


def train_with_split_evals(model, train_data, val_data, cfg: TrainConfig) -> dict:
    """``train_lm``'s loop, scoring the training data too: every ``cfg.eval_interval`` steps (and at step 0)
    the eval-mode loss on ``cfg.eval_iters`` batches of each split, the same batches every time."""
    torch.manual_seed(cfg.seed)                   # dropout's RNG, as in train_lm
    batches = torch.Generator().manual_seed(cfg.seed)
    optimizer = configure_optimizer(model, cfg, torch.device("cpu"))
    hist = {"iter": [], "train_loss": [], "val_loss": []}

    def evaluate(it):
        hist["iter"].append(it)
        for key, data, offset in (("train_loss", train_data, 1), ("val_loss", val_data, 2)):
            hist[key].append(estimate_loss(model, data, cfg, generator=torch.Generator().manual_seed(cfg.seed + offset)))

    evaluate(0)
    model.train()
    for it in range(cfg.max_iters):
        x, y = get_batch(train_data, cfg.block_size, cfg.batch_size, generator=batches)   # (B, T)
        train_step(model, optimizer, x, y, lr_at(it, cfg), cfg)
        if (it + 1) % cfg.eval_interval == 0 or it + 1 == cfg.max_iters:
            evaluate(it + 1)
    model.eval()
    return hist


def dropout_config(seed: int, args) -> TrainConfig:
    return notebook_train_config(seed, max_iters=args.dropout_iters, eval_interval=args.dropout_eval, eval_iters=20)


def dropout_run(p: float, seed: int, args) -> dict:
    c0 = time.process_time()
    V, train_ids, val_ids = shakespeare()
    subset = spread_subset(train_ids, args.dropout_fraction)
    seed_everything(seed)
    model = small_gpt(V, dropout=p)
    h = train_with_split_evals(model, subset, val_ids, dropout_config(seed, args))
    final = {"train_nll": evaluate_split(model, subset, block_size=32),
             "val_nll": evaluate_split(model, val_ids, block_size=32)}
    print(f"dropout {p} seed {seed}: whole subset {final['train_nll']:.3f}, whole val {final['val_nll']:.3f}, "
          f"gap {final['val_nll'] - final['train_nll']:.3f}", flush=True)
    return {"seed": seed, **h, **final, "cpu_seconds": time.process_time() - c0}


def dropout_jobs(args) -> list:
    return [(dropout_run, (p, seed, args)) for p in DROPOUTS for seed in args.dropout_seeds]


def dropout_entry(args, results: list) -> dict:
    keys = [a for _, a in dropout_jobs(args)]
    runs = {str(p): [r for (q, _, _), r in zip(keys, results) if q == p] for p in DROPOUTS}
    return {"train_config": dropout_config(0, args).to_dict(), "init_std": SMALL_INIT_STD,
            "train_fraction": args.dropout_fraction,
            "train_pieces": 10, "train_tokens": len(spread_subset(shakespeare()[1], args.dropout_fraction)),
            "dropouts": DROPOUTS, "seeds": args.dropout_seeds, "runs": runs,
            **machine(sum(r.pop("cpu_seconds") for r in results), args.workers)}


SERIAL = {"lr_sweep": lr_sweep, "init_scale": init_scale}               # name: (args) -> entry
POOLED = {"dropout": (dropout_jobs, dropout_entry)}                       # name: (jobs, entry from results)
EXPERIMENTS = ("lr_sweep", "init_scale", "dropout")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    p.add_argument("--lr-iters", type=int, default=300)
    p.add_argument("--init-iters", type=int, default=800)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--dropout-iters", type=int, default=2000)
    p.add_argument("--dropout-eval", type=int, default=250)
    p.add_argument("--dropout-fraction", type=float, default=0.05)
    p.add_argument("--dropout-seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--workers", type=int, default=1, help="processes for the dropout runs "
                   "(one torch thread each; the results do not depend on it)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    env = reproducible_cpu_env()
    if any(os.environ.get(k) != v for k, v in env.items()):   # they act only on a fresh process
        os.execve(sys.executable, [sys.executable, "-m", "lmrl_course.scripts.make_gpt_craft_assets",
                                   *(sys.argv[1:] if argv is None else argv)], {**os.environ, **env})

    set_determinism(threads=1, deterministic=True)
    out = json.loads(args.out.read_text()) if args.out.exists() and set(args.only) != set(EXPERIMENTS) else {}
    t_start = time.perf_counter()
    for name, experiment in SERIAL.items():
        if name in args.only:
            out[name] = experiment(args)
            print(f"{name} done ({time.perf_counter() - t_start:.0f} s)", flush=True)
    pooled = [name for name in POOLED if name in args.only]   # their runs share one pool of workers
    jobs = {name: POOLED[name][0](args) for name in pooled}
    results = run_jobs([job for name in pooled for job in jobs[name]], args.workers)
    for name in pooled:
        out[name], results = POOLED[name][1](args, results[:len(jobs[name])]), results[len(jobs[name]):]
    out.update({"torch_version": str(torch.__version__), "made_by": "python -m lmrl_course.scripts.make_gpt_craft_assets"})
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out} in {time.perf_counter() - t_start:.0f} s")
    return out


if __name__ == "__main__":
    main()
