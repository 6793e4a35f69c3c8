"""Training loop for the GPT: AdamW, warmup + cosine learning rate, gradient clipping, evaluation,
checkpoints.

    θ ← AdamW(θ, ∇_θ L(θ), lr_t),   L = mean cross-entropy of the next character on a random batch
    lr_t = lr · (t+1)/warmup                                    for t < warmup
         = min_lr + ½(1 + cos(π (t - warmup)/(decay - warmup))) (lr - min_lr)   up to t = decay, then min_lr

Data-parallel (started by torchrun, see :mod:`lmrl_course.distributed`): the batch of B sequences of one
step is split into M = B / b micro-batches of b sequences, each process does M/P of them (P processes)
and the gradients are averaged over all M,

    ∇_θ L = (1/M) Σ_m ∇_θ L_m,   L_m = mean cross-entropy of micro-batch m,

which is the gradient of the whole batch for any P: the global batch B stays the same.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from .data import CharTokenizer, get_batch
from .device import get_device, synchronize
from .distributed import all_reduce_sum, rank_and_world_size
from .gpt import GPT, GPTConfig
from .validation import require_in_range, require_tensor


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_lm` (defaults: the small char-level Shakespeare run)."""

    max_iters: int = 2000
    batch_size: int = 12  # B: sequences per optimiser step, summed over micro-batches and processes
    micro_batch_size: Optional[int] = None  # b: sequences per forward/backward; None = B / processes
    block_size: int = 64
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_iters: int = 100
    lr_decay_iters: Optional[int] = None  # None = max_iters
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 disables clipping
    eval_interval: int = 250  # 0 = evaluate only at the end
    eval_iters: int = 200
    seed: int = 0
    compile: bool = False
    amp: bool = True  # bf16 autocast, only on CUDA

    def __post_init__(self):
        for name in ("max_iters", "batch_size", "block_size", "eval_iters"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"TrainConfig.{name} must be a positive int, got {v!r}")
        for name in ("warmup_iters", "eval_interval", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"TrainConfig.{name} must be a non-negative int, got {v!r}")
        if self.micro_batch_size is not None and (
                isinstance(self.micro_batch_size, bool) or not isinstance(self.micro_batch_size, int)
                or self.micro_batch_size < 1 or self.batch_size % self.micro_batch_size):
            raise ValueError(f"TrainConfig.micro_batch_size must be None or a positive int that divides "
                             f"batch_size={self.batch_size}, got {self.micro_batch_size!r}")
        if self.lr_decay_iters is not None and (not isinstance(self.lr_decay_iters, int) or self.lr_decay_iters < 1):
            raise ValueError(f"TrainConfig.lr_decay_iters must be None or a positive int, got {self.lr_decay_iters!r}")
        if not (self.learning_rate > 0 and 0 <= self.min_lr <= self.learning_rate):
            raise ValueError(f"TrainConfig needs learning_rate > 0 and 0 <= min_lr <= learning_rate, got "
                             f"{self.learning_rate} and {self.min_lr}")
        require_in_range(self.weight_decay, "TrainConfig.weight_decay", 0.0, None)  # rejects NaN too
        require_in_range(self.grad_clip, "TrainConfig.grad_clip", 0.0, None)
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ValueError(f"TrainConfig betas must be in [0, 1), got ({self.beta1}, {self.beta2})")

    def to_dict(self) -> dict:
        return asdict(self)


def micro_batches(cfg: TrainConfig, world_size: int = 1) -> tuple[int, int]:
    """``(b, M/P)``: the micro-batch size and how many micro-batches each of ``world_size`` = P
    processes does per step, so that P · (M/P) · b = ``cfg.batch_size`` (b = ``cfg.micro_batch_size``,
    default B / P). Raises ValueError when B does not split evenly."""
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    b = cfg.micro_batch_size if cfg.micro_batch_size is not None else cfg.batch_size // world_size
    if b < 1 or cfg.batch_size % (b * world_size):
        raise ValueError(f"batch_size={cfg.batch_size} cannot be split into micro-batches of "
                         f"{cfg.micro_batch_size if cfg.micro_batch_size is not None else 'batch_size / processes'}"
                         f" over {world_size} processes: batch_size must be a multiple of micro_batch_size x "
                         f"processes (set TrainConfig.micro_batch_size or change batch_size)")
    return b, cfg.batch_size // (b * world_size)


# Micro-batch slot m (m = rank · M/P + j, the j-th micro-batch of process `rank`) draws its windows from
# its own generator, seeded with batch_seed(seed, m). The batches then do not depend on how the M slots
# are shared among processes: 2 processes x 1 micro-batch see the same windows as 1 process x 2.
_SLOT_STRIDE = 0x9E3779B97F4A7C15  # odd 64-bit constant (2^64 / golden ratio): slots get far-apart seeds


def batch_seed(seed: int, slot: int) -> int:
    """Seed of micro-batch slot ``slot``'s generator: ``(seed + slot · 0x9E3779B97F4A7C15) mod 2^63``;
    slot 0 gets ``seed`` itself (a single process without accumulation)."""
    return seed if slot == 0 else (seed + slot * _SLOT_STRIDE) % 2**63


def lr_at(it: int, cfg: TrainConfig) -> float:
    """Learning rate at iteration ``it``: linear warmup to ``learning_rate`` over ``warmup_iters``, then
    cosine decay to ``min_lr`` at ``lr_decay_iters`` (default ``max_iters``), constant after."""
    decay_iters = cfg.max_iters if cfg.lr_decay_iters is None else cfg.lr_decay_iters
    if it < cfg.warmup_iters:
        return cfg.learning_rate * (it + 1) / cfg.warmup_iters
    if it >= decay_iters:
        return cfg.min_lr
    ratio = (it - cfg.warmup_iters) / max(1, decay_iters - cfg.warmup_iters)  # in [0, 1)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))  # 1 -> 0
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def _autocast(device: torch.device, cfg: Optional[TrainConfig]):
    if cfg is not None and cfg.amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def estimate_loss(model: nn.Module, data: torch.Tensor, cfg: TrainConfig, device=None,
                  generator: Optional[torch.Generator] = None, rank: int = 0, world_size: int = 1) -> float:
    """Mean loss over ``cfg.eval_iters`` random batches (B = ``cfg.batch_size``, T = ``cfg.block_size``)
    of ``data``, in eval mode (no dropout); the model's train/eval mode is restored afterwards.

    With ``world_size`` > 1 (inside a process group) process ``rank`` evaluates batches rank,
    rank + P, ... of the same sequence and the sums are added over the processes: the same batches
    and the same mean as one process, in 1/P of the time.
    """
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=device)
    for i in range(cfg.eval_iters):
        x, y = get_batch(data, cfg.block_size, cfg.batch_size, generator=generator, device=device)  # (B, T)
        if i % world_size != rank:
            continue  # another process's batch (drawn anyway, to keep the generator in step)
        with _autocast(device, cfg):
            _, loss = model(x, y)
        total += loss.float()
    model.train(was_training)
    if world_size > 1:
        all_reduce_sum(total)
    return float(total) / cfg.eval_iters


@torch.no_grad()
def evaluate_split(model: GPT, data: torch.Tensor, block_size: Optional[int] = None, batch_size: int = 64,
                   device=None) -> float:
    """Mean NLL per token over a whole split: −(1/N) Σ_t log p_θ(x_{t+1} | window), the split cut into
    consecutive non-overlapping windows of ``block_size`` (default: the model's); deterministic."""
    require_tensor(data, "data", ndim=1, kind="int", dims="(N,)")
    device = _model_device(model) if device is None else torch.device(device)
    T = model.config.block_size if block_size is None else block_size
    n_windows = (len(data) - 1) // T
    if n_windows < 1:
        raise ValueError(f"data has {len(data)} tokens; need at least block_size + 1 = {T + 1}")
    x_all = data[: n_windows * T].view(n_windows, T)  # (W, T)
    y_all = data[1: n_windows * T + 1].view(n_windows, T)  # (W, T)
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, n_windows, batch_size):
        x = x_all[i: i + batch_size].long().to(device)  # (B, T)
        y = y_all[i: i + batch_size].long().to(device)  # (B, T)
        _, loss = model(x, y)
        total += float(loss) * x.numel()
    model.train(was_training)
    return total / (n_windows * T)


def configure_optimizer(model: nn.Module, cfg: TrainConfig, device=None) -> torch.optim.AdamW:
    """AdamW with weight decay on the 2-D weights (matmuls, embeddings) only; biases and LayerNorm
    gains are not decayed. The fused kernel is used on CPU and CUDA; ``device`` (a ``torch.device`` or a
    name like ``"cpu"``) defaults to the device of the model's parameters."""
    params = [p for p in model.parameters() if p.requires_grad]  # parameters() de-duplicates tied weights
    if not params:
        raise ValueError("configure_optimizer: the model has no trainable parameters")
    device = params[0].device if device is None else torch.device(device)
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = {}
    if device.type in ("cuda", "cpu"):
        kwargs["fused"] = True
    try:
        return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), **kwargs)
    except (RuntimeError, TypeError):  # fused kernel not available for this device / build
        return torch.optim.AdamW(groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2))


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, lr: float,
               cfg: TrainConfig, accum_steps: int = 1) -> torch.Tensor:
    """One optimisation step of :func:`train_lm` on the batch ``x, y`` (B, T); returns the loss (detached).

        θ ← AdamW(θ, clip(∇_θ L(θ), cfg.grad_clip), lr),   L = (1/M) Σ_m L_m

    with ``x, y`` cut into M = ``accum_steps`` micro-batches of B/M rows, L_m the mean cross-entropy of
    ``model`` on micro-batch m: the gradients of the M backward passes add up in ``.grad`` (gradient
    accumulation, one micro-batch in memory at a time). For a ``DistributedDataParallel`` model the
    gradients are averaged over the processes once, during the last backward pass. ``model`` may be a
    ``torch.compile`` wrapper; bf16 autocast is used on CUDA when ``cfg.amp``.
    """
    if isinstance(accum_steps, bool) or not isinstance(accum_steps, int) or accum_steps < 1 or len(x) % accum_steps:
        raise ValueError(f"accum_steps must be a positive int that divides the batch ({len(x)} rows), "
                         f"got {accum_steps!r}")
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    total = None
    for m, (xm, ym) in enumerate(zip(x.chunk(accum_steps), y.chunk(accum_steps))):  # (B/M, T) each
        last = m + 1 == accum_steps
        # DDP all-reduces the gradients during backward; only on the last micro-batch, not M times
        sync = last or not isinstance(model, DistributedDataParallel)
        with contextlib.nullcontext() if sync else model.no_sync():
            with _autocast(xm.device, cfg):
                _, loss = model(xm, ym)
            (loss if accum_steps == 1 else loss / accum_steps).backward()
        total = loss.detach() if total is None else total + loss.detach()
    if cfg.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
    optimizer.step()
    return total if accum_steps == 1 else total / accum_steps


def train_lm(model: nn.Module, train_data: torch.Tensor, val_data: torch.Tensor, cfg: Optional[TrainConfig] = None,
             device=None, progress: bool = True) -> dict:
    """Train ``model`` on random windows of ``train_data``; evaluate on ``val_data``.

    Every ``cfg.eval_interval`` iterations and at the end, appends to the returned history:
    ``iter``, ``train_loss`` (mean minibatch loss since the previous entry), ``val_loss``
    (:func:`estimate_loss` on ``cfg.eval_iters`` val batches, the same batches every time), ``lr``,
    ``tokens_per_s`` and ``ms_per_iter`` (wall clock, training steps only, evaluation time excluded),
    and ``cpu_ms_per_iter`` (CPU time of this process per step, all threads: on a shared CPU it is
    what the step costs, while the wall clock also counts waiting for the other processes).
    Batches are drawn from a generator seeded with ``cfg.seed``; torch's global RNG (dropout) is
    seeded with it too. The model is left in eval mode.

    Data-parallel: when a ``torch.distributed`` process group is running (the script started by
    ``torchrun``, :func:`lmrl_course.distributed.init_distributed` called), the model is wrapped in
    ``DistributedDataParallel`` and each of the P processes does M/P micro-batches of
    :func:`micro_batches` per step; every micro-batch slot m has its own generator seeded with
    :func:`batch_seed` (slot 0: ``cfg.seed``), so each process sees other windows and the step is the
    same as one process doing all M micro-batches (``micro_batch_size`` set, gradient accumulation).
    Dropout draws from torch's global RNG, seeded with the process's first slot seed. ``train_loss``
    and ``val_loss`` are averaged over the processes (the same history on every process),
    ``tokens_per_s`` counts the whole batch B, ``cpu_ms_per_iter`` is this process's. Only rank 0
    shows a progress bar; saving the model is the caller's job (on rank 0, see
    ``lmrl_course.scripts.train_shakespeare``).
    """
    cfg = TrainConfig() if cfg is None else cfg
    require_tensor(train_data, "train_data", ndim=1, kind="int", dims="(N,)")
    require_tensor(val_data, "val_data", ndim=1, kind="int", dims="(N,)")
    device = get_device(device) if device is not None else _model_device(model)
    model.to(device)
    block_limit = getattr(getattr(model, "config", None), "block_size", None)
    if block_limit is not None and cfg.block_size > block_limit:
        raise ValueError(f"TrainConfig.block_size={cfg.block_size} exceeds the model's block_size={block_limit}")

    rank, world_size = rank_and_world_size()
    micro, n_micro = micro_batches(cfg, world_size)  # b, M/P
    slots = range(rank * n_micro, (rank + 1) * n_micro)  # this process's micro-batch slots
    torch.manual_seed(batch_seed(cfg.seed, slots[0]))
    batch_gens = [torch.Generator().manual_seed(batch_seed(cfg.seed, m)) for m in slots]
    optimizer = configure_optimizer(model, cfg, device)
    evaluated = torch.compile(model) if cfg.compile else model
    fwd = evaluated
    if world_size > 1:  # averages the gradients over the processes; starts from rank 0's weights
        device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
        fwd = DistributedDataParallel(evaluated, device_ids=device_ids)

    history = {k: [] for k in ("iter", "train_loss", "val_loss", "lr", "tokens_per_s", "ms_per_iter",
                               "cpu_ms_per_iter")}
    tokens_per_iter = cfg.batch_size * cfg.block_size
    running = torch.zeros((), device=device)
    n_running, t_train, cpu_train = 0, 0.0, 0.0

    model.train()
    bar = tqdm(range(cfg.max_iters), desc="train", disable=not progress or rank != 0, leave=True)
    synchronize(device)
    t0, c0 = time.perf_counter(), time.process_time()
    for it in bar:
        lr = lr_at(it, cfg)
        if n_micro == 1:
            x, y = get_batch(train_data, cfg.block_size, micro, generator=batch_gens[0], device=device)  # (b, T)
        else:
            xys = [get_batch(train_data, cfg.block_size, micro, generator=g, device=device) for g in batch_gens]
            x, y = torch.cat([xy[0] for xy in xys]), torch.cat([xy[1] for xy in xys])  # (M/P · b, T)
        running += train_step(fwd, optimizer, x, y, lr, cfg, accum_steps=n_micro).float()
        n_running += 1

        last = it + 1 == cfg.max_iters
        if last or (cfg.eval_interval > 0 and (it + 1) % cfg.eval_interval == 0):
            synchronize(device)
            t_train += time.perf_counter() - t0
            cpu_train += time.process_time() - c0
            ms = 1000.0 * t_train / n_running
            if world_size > 1:  # mean over the processes
                running = all_reduce_sum(running) / world_size
            train_loss = float(running) / n_running
            val_loss = estimate_loss(evaluated, val_data, cfg, device, torch.Generator().manual_seed(cfg.seed + 1),
                                     rank=rank, world_size=world_size)
            for k, v in (("iter", it + 1), ("train_loss", train_loss), ("val_loss", val_loss), ("lr", lr),
                         ("tokens_per_s", 1000.0 * tokens_per_iter / ms), ("ms_per_iter", ms),
                         ("cpu_ms_per_iter", 1000.0 * cpu_train / n_running)):
                history[k].append(v)
            bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
            running.zero_()
            n_running, t_train, cpu_train = 0, 0.0, 0.0
            synchronize(device)
            t0, c0 = time.perf_counter(), time.process_time()
    bar.close()
    model.eval()
    return history


# ---------------------------------------------------------------------- checkpoints
def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "_orig_mod", model)  # a torch.compile'd model wraps the original


def save_checkpoint(path, model: GPT, tokenizer: CharTokenizer, train_cfg: Optional[TrainConfig] = None,
                    metrics: Optional[dict] = None, dtype: Optional[torch.dtype] = None) -> None:
    """Save weights, model config, tokenizer and (optionally) the train config and metrics.

    Everything but the weights is a plain dict / list / number / str, so the file loads with
    ``torch.load(..., weights_only=True)``. ``dtype`` (e.g. ``torch.float16``) stores floating-point
    weights in a smaller type; :func:`load_checkpoint` converts them back to float32.
    """
    model = _unwrap(model)
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a GPT, got {type(model).__name__}")
    if not isinstance(tokenizer, CharTokenizer):
        raise TypeError(f"tokenizer must be a CharTokenizer, got {type(tokenizer).__name__}")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ValueError(f"tokenizer has {tokenizer.vocab_size} characters but the model's vocab_size is "
                         f"{model.config.vocab_size}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items() if k != "lm_head.weight"}  # tied to wte
    if dtype is not None:
        state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    ckpt = {
        "model_config": asdict(model.config),
        "model_state": state,
        "tokenizer": tokenizer.to_dict(),
        "train_config": None if train_cfg is None else asdict(train_cfg),
        "metrics": None if metrics is None else dict(metrics),
        "torch_version": str(torch.__version__),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)


def load_checkpoint(path, device=None):
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``).

    Returns ``(model, tokenizer, meta)`` with the model in eval mode on ``device`` (default
    ``get_device()``) and ``meta`` = {"model_config", "train_config", "metrics", "torch_version"}.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path} (regenerate it with "
                                "`python -m lmrl_course.scripts.train_shakespeare`)")
    device = get_device(device)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    known = {f.name for f in fields(GPTConfig)}
    config = GPTConfig(**{k: v for k, v in ckpt["model_config"].items() if k in known})
    model = GPT(config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in ckpt["model_state"].items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    model.load_state_dict(state)
    model.to(device).eval()
    tokenizer = CharTokenizer.from_dict(ckpt["tokenizer"])
    meta = {k: ckpt.get(k) for k in ("model_config", "train_config", "metrics", "torch_version")}
    return model, tokenizer, meta


__all__ = ["TrainConfig", "lr_at", "estimate_loss", "evaluate_split", "configure_optimizer", "train_step", "train_lm",
           "save_checkpoint", "load_checkpoint", "micro_batches", "batch_seed"]
