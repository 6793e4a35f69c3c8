"""Data-parallel training (torch.distributed, gloo on 127.0.0.1): two processes with the same global
batch take the same steps as one process with gradient accumulation, and as a hand-written loop on
the whole batch; the torchrun command of the README runs, and rank 0 alone writes and prints.

The two-process tests and the torchrun test each start two or three Python processes (importing torch
is most of their cost): about 33 s of CPU time for the whole file, 130 s of wall clock on a 2-core
machine at a load average of 20.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lmrl_course.data import get_batch
from lmrl_course.lm_trainer import TrainConfig, load_checkpoint, lr_at, micro_batches

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ddp_worker  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240  # per run of processes; each took under 65 s at a load average of 20


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.pop("LMRL_DEVICE", None)
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # gloo on the loopback device only
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    """Start the two gloo processes of tests/ddp_worker.py on 127.0.0.1; their saved results by rank."""
    out = tmp_path_factory.mktemp("ddp")
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "ddp_worker.py"), str(out)],
                              env=_env(RANK=r, LOCAL_RANK=r, WORLD_SIZE=ddp_worker.N_PROCESSES,
                                       MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(ddp_worker.N_PROCESSES)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"rank {r} failed:\n{log}"
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(ddp_worker.N_PROCESSES)]


def _slot_seed(seed: int, k: int) -> int:
    # written out from lmrl_course.lm_trainer.batch_seed's docstring
    return seed if k == 0 else (seed + k * 0x9E3779B97F4A7C15) % 2**63


def _whole_batch_reference(cfg: TrainConfig) -> dict:
    """The step written from its equation, one process, no accumulation: the M micro-batches of slot
    generators m = 0..M-1 concatenated into one batch of B, its mean cross-entropy, torch's gradient
    clip, torch's plain (for-loop) AdamW with decay on the 2-D weights."""
    train, _, V = ddp_worker.corpus()
    model = ddp_worker.make_model(V).train()
    b, per_process = micro_batches(cfg, ddp_worker.N_PROCESSES)
    gens = [torch.Generator().manual_seed(_slot_seed(cfg.seed, k)) for k in range(ddp_worker.N_PROCESSES * per_process)]
    params = list(model.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), foreach=False)
    for it in range(cfg.max_iters):
        xys = [get_batch(train, cfg.block_size, b, generator=g) for g in gens]
        x, y = torch.cat([xy[0] for xy in xys]), torch.cat([xy[1] for xy in xys])  # (B, T)
        assert x.shape == (cfg.batch_size, cfg.block_size)
        logits, _ = model(x)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        if cfg.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            assert norm > cfg.grad_clip  # the clip acts in this case
        for g in opt.param_groups:
            g["lr"] = lr_at(it, cfg)
        opt.step()
    return {"params": {n: p.detach() for n, p in model.named_parameters()},
            "grads": {n: p.grad for n, p in model.named_parameters()}}


@pytest.mark.parametrize("case", sorted(ddp_worker.CASES))
def test_two_processes_equal_one_process_with_accumulation(two_process_results, case):
    cfg = ddp_worker.CASES[case]
    rank0, rank1 = (r[case] for r in two_process_results)
    b, per_process = micro_batches(cfg, ddp_worker.N_PROCESSES)
    assert per_process == (1 if case == "split" else 2)
    # DDP keeps the copies equal: the same averaged gradient, the same step, bit for bit
    for name in rank0["params"]:
        assert torch.equal(rank0["params"][name], rank1["params"][name]), name
        assert torch.equal(rank0["grads"][name], rank1["grads"][name]), name
    assert rank0["history"] == rank1["history"]

    # one process, the same M micro-batches by gradient accumulation (float64 throughout)
    single = ddp_worker.run_case(TrainConfig(**{**cfg.to_dict(), "micro_batch_size": b}))
    for name, p in single["params"].items():
        assert p.dtype == torch.float64
        torch.testing.assert_close(rank0["params"][name], p, rtol=0, atol=1e-12, msg=name)
        torch.testing.assert_close(rank0["grads"][name], single["grads"][name], rtol=1e-10, atol=1e-13, msg=name)
    assert rank0["history"]["iter"] == single["history"]["iter"] == [2, 4]
    for key in ("train_loss", "val_loss"):  # the mean over the processes = the single process's (summed in float32)
        assert rank0["history"][key] == pytest.approx(single["history"][key], rel=1e-6)  # float32 sums

    # the same steps written from the equation, on the whole batch of B at once
    ref = _whole_batch_reference(cfg)
    for name, p in ref["params"].items():
        torch.testing.assert_close(rank0["params"][name], p, rtol=0, atol=1e-10, msg=name)
        torch.testing.assert_close(rank0["grads"][name], ref["grads"][name], rtol=1e-8, atol=1e-11, msg=name)


def test_processes_draw_different_batches():
    cfg = ddp_worker.CASES["split"]
    train, _, _ = ddp_worker.corpus()
    x0, _ = get_batch(train, cfg.block_size, 4, generator=torch.Generator().manual_seed(_slot_seed(cfg.seed, 0)))
    x1, _ = get_batch(train, cfg.block_size, 4, generator=torch.Generator().manual_seed(_slot_seed(cfg.seed, 1)))
    assert not torch.equal(x0, x1)


def test_torchrun_command_rank0_writes_a_checkpoint_that_loads_in_one_process(tmp_path):
    # the README's command, smaller (2 steps, a narrow model, 1000 validation tokens scored at the end)
    out = tmp_path / "ddp.pt"
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun), "--standalone", "--nproc_per_node=2", "--tee=3",
           "-m", "lmrl_course.scripts.train_shakespeare",
           "--max-iters", "2", "--n-embd", "48", "--eval-tokens", "1000", "--no-progress", "--device", "cpu",
           "--out", str(out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            start_new_session=True)  # its own process group: a timeout ends the workers too
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stdout + stderr
    lines = stdout.splitlines()
    # --tee=3 prefixes each process's lines with its local rank: rank 0 alone prints
    assert any(re.match(r"\[default0\]:val loss \(first 1000 tokens", line) for line in lines), stdout
    assert not any(line.startswith("[default1]") for line in lines), stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.json", "ddp.pt"]

    raw = torch.load(out, map_location="cpu", weights_only=True)
    assert raw["train_config"]["max_iters"] == 2 and raw["train_config"]["batch_size"] == 16
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["processes"] == 2 and report["command"].startswith("torchrun --nproc_per_node=2 ")
    # the file holds the trained model: reloaded here, in one process, it scores what rank 0 reported
    from lmrl_course.data import CharTokenizer, load_text, train_val_split
    from lmrl_course.lm_trainer import evaluate_split

    model, tok, meta = load_checkpoint(out, device="cpu")
    text = load_text()
    assert tok.stoi == CharTokenizer.from_text(text).stoi
    _, val = train_val_split(torch.tensor(tok.encode(text), dtype=torch.long), 0.1)
    assert evaluate_split(model, val[:1000]) == pytest.approx(meta["metrics"]["val_loss"], rel=1e-6)


def test_micro_batches_split_the_global_batch():
    cfg = TrainConfig(batch_size=16)
    assert micro_batches(cfg, 1) == (16, 1) and micro_batches(cfg, 2) == (8, 1) and micro_batches(cfg, 16) == (1, 1)
    cfg = TrainConfig(batch_size=16, micro_batch_size=2)
    assert micro_batches(cfg, 1) == (2, 8) and micro_batches(cfg, 2) == (2, 4) and micro_batches(cfg, 8) == (2, 1)
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        micro_batches(TrainConfig(batch_size=16), 3)  # 16 sequences do not split over 3 processes
    with pytest.raises(ValueError, match="multiple of micro_batch_size"):
        micro_batches(TrainConfig(batch_size=16, micro_batch_size=4), 8)
    with pytest.raises(ValueError, match="micro_batch_size"):
        TrainConfig(batch_size=16, micro_batch_size=3)
    with pytest.raises(ValueError, match="micro_batch_size"):
        TrainConfig(batch_size=16, micro_batch_size=0)


def test_accumulated_step_equals_the_whole_batch_step():
    # train_step on K = 4 micro-batches of 2 vs one pass on the 8 rows, float64, clip acting
    from lmrl_course.lm_trainer import configure_optimizer, train_step

    train, _, V = ddp_worker.corpus()
    cfg = TrainConfig(batch_size=8, block_size=16, grad_clip=0.05, weight_decay=0.1, amp=False)
    x, y = get_batch(train, 16, 8, generator=torch.Generator().manual_seed(0))
    models = [ddp_worker.make_model(V) for _ in range(2)]
    losses = []
    for m, k in zip(models, (1, 4)):
        opt = configure_optimizer(m, cfg, torch.device("cpu"))
        losses.append(train_step(m, opt, x, y, lr=3e-3, cfg=cfg, accum_steps=k))
    assert losses[0].item() == pytest.approx(losses[1].item(), rel=1e-12)
    for (name, p), q in zip(models[0].named_parameters(), models[1].parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12, msg=name)
    with pytest.raises(ValueError, match="accum_steps"):
        train_step(models[0], opt, x, y, lr=3e-3, cfg=cfg, accum_steps=3)


@pytest.mark.parametrize("rank", [0, 1])
def test_only_rank_0_prints_and_writes(rank, tmp_path, monkeypatch, capsys):
    # the script as process `rank` of 2 (no process group: training stubbed, so nothing collective runs)
    import lmrl_course.scripts.train_shakespeare as script
    from lmrl_course.distributed import DistContext

    trained = []

    def fake_train_lm(model, train_data, val_data, cfg, device=None, progress=True):
        trained.append(cfg.max_iters)
        return {"iter": [1], "train_loss": [4.0], "val_loss": [4.0], "lr": [1e-3], "tokens_per_s": [1.0],
                "ms_per_iter": [1.0], "cpu_ms_per_iter": [1.0]}

    monkeypatch.setattr(script, "init_distributed", lambda device: DistContext(rank, 2, rank, torch.device("cpu")))
    monkeypatch.setattr(script, "train_lm", fake_train_lm)
    monkeypatch.setattr(script, "set_determinism", lambda **kw: None)  # process-wide flags: not in pytest
    monkeypatch.setattr(script, "keep_freed_memory", lambda: None)
    script.main(["--max-iters", "1", "--n-embd", "48", "--eval-tokens", "300", "--no-progress",
                 "--out", str(tmp_path / "ck.pt")])
    printed = capsys.readouterr().out
    assert trained == [1]  # every rank trains
    if rank == 0:
        assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.json", "ck.pt"] and "val loss" in printed
    else:
        assert list(tmp_path.iterdir()) == [] and printed == ""
