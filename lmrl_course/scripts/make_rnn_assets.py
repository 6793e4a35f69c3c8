"""Regenerate the two multi-seed results notebook 02b plots (both on the CPU, one thread).

    python -m lmrl_course.scripts.make_rnn_assets recall     # assets/rnn_recall.json, about 30 s of CPU
    python -m lmrl_course.scripts.make_rnn_assets lm         # assets/rnn_lm_comparison.json, about 5 min
    python -m lmrl_course.scripts.make_rnn_assets all

``recall``: the correct LSTM cell, the cell with blind gates (i_t, f_t without x_t), the cell with
only ⊙ read as a dot product (gates correct) and the garbled cell as printed (both errors), each
trained by ``rnn.train_recall`` on the recall task (8 symbols, recall the first after 5 more) for
seeds 0..4; per run the training-loss curve and the loss / accuracy on 512 fresh sequences.

The script runs itself under ``device.reproducible_cpu_env()`` (it re-executes with those variables
when they are not set), with one thread, like the notebook kernels: seed 0 is then the same run,
to the last bit, as notebook 02b's live one.

``lm``: a budget of its own (not notebook 03's 300 steps at 3e-3) — ``TrainConfig(max_iters=400,
batch_size=32, block_size=32, learning_rate=1e-2, min_lr=1e-3, warmup_iters=30, eval_interval=50,
eval_iters=10, seed=s)`` — for the small GPT (2 layers, 4 heads, C = 64), ``CharGRU`` (hidden 144)
and ``CharLSTM`` (hidden 122, about the GRU's parameter count), seeds 0, 1, 2 (the model's init and
the batches both from the seed); per run the validation-loss curve and ``evaluate_split`` on the
whole validation split (windows of 32).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path

import torch

from lmrl_course.data import CharTokenizer, load_text, train_val_split
from lmrl_course.device import reproducible_cpu_env, seed_everything, set_determinism
from lmrl_course.gpt import GPT, GPTConfig
from lmrl_course.lm_trainer import TrainConfig, evaluate_split, train_lm
from lmrl_course.paths import ASSETS_DIR
from lmrl_course.rnn import CharGRU, CharLSTM, garbled_lstm_cell, lstm_cell, train_recall

RECALL_OUT = Path(ASSETS_DIR) / "rnn_recall.json"
LM_OUT = Path(ASSETS_DIR) / "rnn_lm_comparison.json"
RECALL_CELLS = {
    "LSTM (correct)": lstm_cell,
    "blind gates (i, f without x)": partial(garbled_lstm_cell, dot_product=False),
    "dot products only (gates read x)": partial(garbled_lstm_cell, blind_gates=False),
    "garbled as printed (blind gates, dot products)": garbled_lstm_cell,
}
RECALL_TASK = dict(n_symbols=8, delay=5, hidden=32, steps=300, batch_size=64, lr=1e-2)


def lm_train_config(seed: int) -> TrainConfig:
    """The 400-step, lr 1e-2 budget of notebook 02b section 4 (notebook 03 uses 300 steps at 3e-3)."""
    return TrainConfig(max_iters=400, batch_size=32, block_size=32, learning_rate=1e-2, min_lr=1e-3,
                       warmup_iters=30, eval_interval=50, eval_iters=10, seed=seed)


def lm_models(V: int) -> dict:
    return {
        "GPT (2 layers, C = 64)": lambda: GPT(GPTConfig(vocab_size=V, block_size=32, n_layer=2, n_head=4, n_embd=64)),
        "GRU (hidden 144)": lambda: CharGRU(V),
        "LSTM (hidden 122)": lambda: CharLSTM(V),
    }


def machine() -> dict:
    return {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
            "made": time.strftime("%Y-%m-%d")}


def make_recall(seeds) -> dict:
    runs = {}
    for name, cell in RECALL_CELLS.items():
        runs[name] = []
        for s in seeds:
            r = train_recall(cell, seed=s, **RECALL_TASK)
            r["train_loss"] = [round(v, 4) for v in r["train_loss"]]
            runs[name].append({"seed": s, **r})
            print(f"{name:<48} seed {s}: eval loss {r['eval_loss']:.3f}, accuracy {r['eval_accuracy']:.3f}")
    return {"task": RECALL_TASK, "seeds": list(seeds), "runs": runs, **machine()}


def make_lm(seeds) -> dict:
    text = load_text()
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text), dtype=torch.long)
    train_ids, val_ids = train_val_split(ids, 0.1)
    runs = {}
    for name, make in lm_models(tok.vocab_size).items():
        runs[name] = []
        for s in seeds:
            seed_everything(s)
            model = make()
            cfg = lm_train_config(s)
            t0 = time.perf_counter()
            hist = train_lm(model, train_ids, val_ids, cfg, progress=False)
            secs = time.perf_counter() - t0
            val = evaluate_split(model, val_ids, block_size=cfg.block_size)
            runs[name].append({"seed": s, "val_nll": val, "iter": hist["iter"], "val_loss": hist["val_loss"],
                               "parameters": sum(p.numel() for p in model.parameters()), "train_seconds": secs})
            print(f"{name:<26} seed {s}: whole-split val NLL {val:.4f}  ({secs:.0f} s)")
    return {"train_config": lm_train_config(0).to_dict(), "seeds": list(seeds), "runs": runs,
            "gpt_init_std": GPTConfig(vocab_size=2).init_std, **machine()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["recall", "lm", "all"])
    ap.add_argument("--recall-seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--lm-seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args(argv)
    env = reproducible_cpu_env()
    if any(os.environ.get(k) != v for k, v in env.items()):   # they act only on a fresh process
        os.execve(sys.executable, [sys.executable, "-m", "lmrl_course.scripts.make_rnn_assets",
                                   *(sys.argv[1:] if argv is None else argv)], {**os.environ, **env})
    set_determinism(threads=1)
    if args.what in ("recall", "all"):
        RECALL_OUT.write_text(json.dumps(make_recall(args.recall_seeds)) + "\n")
        print("wrote", RECALL_OUT)
    if args.what in ("lm", "all"):
        LM_OUT.write_text(json.dumps(make_lm(args.lm_seeds), indent=1) + "\n")
        print("wrote", LM_OUT)


if __name__ == "__main__":
    main()
