"""Tests for lmrl_course.lm_trainer: schedule, optimizer groups, training, evaluation, checkpoints."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

from lmrl_course.data import CharTokenizer, get_batch
from lmrl_course.gpt import GPT, GPTConfig
from lmrl_course.lm_trainer import (TrainConfig, configure_optimizer, estimate_loss, evaluate_split,
                                    load_checkpoint, lr_at, save_checkpoint, train_lm, train_step)

TEXT = "To be, or not to be, that is the question: whether 'tis nobler in the mind to suffer. " * 40


@pytest.fixture(scope="module")
def corpus():
    tok = CharTokenizer.from_text(TEXT)
    ids = torch.tensor(tok.encode(TEXT), dtype=torch.long)
    return tok, ids[:3000], ids[3000:]


def _model(V, device="cpu", **kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).to(device)


def test_lr_schedule_by_hand():
    cfg = TrainConfig(max_iters=1000, learning_rate=1e-3, min_lr=1e-4, warmup_iters=100)
    assert lr_at(0, cfg) == pytest.approx(1e-5)
    assert lr_at(49, cfg) == pytest.approx(0.5e-3)
    assert lr_at(100, cfg) == pytest.approx(1e-3)  # end of warmup: the peak
    assert lr_at(550, cfg) == pytest.approx(0.55e-3)  # half way through the cosine: (lr + min_lr) / 2
    assert lr_at(100 + 900 // 4, cfg) == pytest.approx(1e-4 + 0.9e-3 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(1000, cfg) == pytest.approx(1e-4) and lr_at(5000, cfg) == pytest.approx(1e-4)
    lrs = [lr_at(i, cfg) for i in range(100, 1000)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    assert lr_at(300, TrainConfig(max_iters=1000, lr_decay_iters=300, warmup_iters=0)) == pytest.approx(1e-4)


def test_optimizer_decays_only_matrices():
    m = _model(20)
    opt = configure_optimizer(m, TrainConfig(weight_decay=0.1), torch.device("cpu"))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert sum(p.numel() for g in opt.param_groups for p in g["params"]) == m.num_parameters()
    assert opt.defaults["betas"] == (0.9, 0.99)
    # the device may be a name, or left out (then the parameters' device); a model without parameters is refused
    for dev in ("cpu", None):
        assert configure_optimizer(m, TrainConfig(), dev).defaults["fused"] is True
    with pytest.raises(ValueError, match="no trainable parameters"):
        configure_optimizer(torch.nn.Identity(), TrainConfig())


@pytest.mark.parametrize("grad_clip", [0.0, 0.05])
def test_train_step_is_clipped_adamw_on_the_cross_entropy(corpus, device, grad_clip):
    # Reference, written from the equations with torch's own pieces: the cross-entropy of the logits,
    # the gradient norm over all parameters clipped by hand, one step of the plain (for-loop) AdamW.
    tok, train, _ = corpus
    cfg = TrainConfig(weight_decay=0.1, grad_clip=grad_clip, amp=False)
    x, y = get_batch(train, 16, 4, generator=torch.Generator().manual_seed(3), device=device)
    ours, ref = _model(tok.vocab_size, device), _model(tok.vocab_size, device)
    opt = configure_optimizer(ours, cfg, device)
    loss = train_step(ours, opt, x, y, lr=2e-3, cfg=cfg)

    logits, _ = ref(x)
    ref_loss = F.cross_entropy(logits.reshape(-1, tok.vocab_size), y.reshape(-1))
    ref_loss.backward()
    params = list(ref.parameters())
    norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params))
    if grad_clip > 0:
        assert norm > grad_clip  # the clip matters in this case
        for p in params:
            p.grad.mul_(grad_clip / (norm.item() + 1e-6))
    decay = [p for p in params if p.dim() >= 2]
    torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                       {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                      lr=2e-3, betas=(0.9, 0.99), foreach=False).step()

    assert not loss.requires_grad and loss.item() == pytest.approx(ref_loss.item(), rel=1e-5)
    assert all(g["lr"] == 2e-3 for g in opt.param_groups)
    for (name, p), q in zip(ours.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_train_lm_learns_and_is_deterministic(corpus, device):
    tok, train, val = corpus
    cfg = TrainConfig(max_iters=60, batch_size=8, block_size=16, learning_rate=3e-3, warmup_iters=5,
                      eval_interval=30, eval_iters=5, seed=1)
    m = _model(tok.vocab_size, device)
    hist = train_lm(m, train, val, cfg, progress=False)
    assert set(hist) == {"iter", "train_loss", "val_loss", "lr", "tokens_per_s", "ms_per_iter", "cpu_ms_per_iter"}
    assert hist["iter"] == [30, 60]
    assert all(len(v) == 2 for v in hist.values())
    assert hist["val_loss"][-1] < math.log(tok.vocab_size) - 1.0  # well below the uniform guess
    assert hist["lr"][-1] == pytest.approx(lr_at(59, cfg))
    assert all(v > 0 for v in hist["tokens_per_s"] + hist["ms_per_iter"] + hist["cpu_ms_per_iter"])
    assert not m.training
    if device.type == "cpu":
        m2 = _model(tok.vocab_size, device)
        hist2 = train_lm(m2, train, val, cfg, progress=False)
        assert hist2["val_loss"] == hist["val_loss"] and hist2["train_loss"] == hist["train_loss"]


def test_estimate_loss_restores_mode_and_matches_manual_average(corpus):
    tok, train, val = corpus
    m = _model(tok.vocab_size, dropout=0.1).train()
    cfg = TrainConfig(batch_size=4, block_size=16, eval_iters=3)
    est = estimate_loss(m, val, cfg, generator=torch.Generator().manual_seed(5))
    assert m.training
    g = torch.Generator().manual_seed(5)
    m.eval()
    with torch.no_grad():
        manual = 0.0
        for _ in range(3):
            x, y = get_batch(val, 16, 4, generator=g)
            manual += F.cross_entropy(m(x)[0].reshape(-1, tok.vocab_size), y.reshape(-1)).item() / 3
    assert est == pytest.approx(manual, rel=1e-5)


def test_evaluate_split_vs_per_token_loop(corpus):
    tok, _, val = corpus
    m = _model(tok.vocab_size).eval()
    data = val[:16 * 5 + 3]
    got = evaluate_split(m, data, batch_size=2)
    nll, n = 0.0, 0
    with torch.no_grad():
        for w in range(5):  # windows data[16w : 16w+16] predicting data[16w+1 : 16w+17]
            x = data[16 * w:16 * w + 16][None]
            logp = torch.log_softmax(m(x)[0][0], -1)
            for t in range(16):
                nll -= logp[t, data[16 * w + t + 1]].item()
                n += 1
    assert got == pytest.approx(nll / n, rel=1e-5)


def test_checkpoint_round_trip(tmp_path, corpus, device):
    tok, _, val = corpus
    m = _model(tok.vocab_size, device, bias=False).eval()
    cfg = TrainConfig(max_iters=7)
    path = tmp_path / "ck.pt"
    save_checkpoint(path, m, tok, cfg, metrics={"val_loss": 1.5})
    raw = torch.load(path, map_location="cpu", weights_only=True)  # plain containers + tensors only
    json.dumps({k: v for k, v in raw.items() if k != "model_state"})
    m2, tok2, meta = load_checkpoint(path, device=device)
    assert not m2.training and m2.config == m.config
    assert m2.lm_head.weight is m2.transformer.wte.weight
    assert tok2.stoi == tok.stoi
    assert meta["train_config"]["max_iters"] == 7 and meta["metrics"] == {"val_loss": 1.5}
    x = val[:16][None].to(device)
    with torch.no_grad():
        assert torch.equal(m(x)[0], m2(x)[0])
    save_checkpoint(path, m, tok, dtype=torch.float16)  # half-size file, loads back as float32
    m3, _, _ = load_checkpoint(path, device=device)
    assert m3.transformer.wte.weight.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(m3(x)[0], m(x)[0], atol=2e-3, rtol=0)


def test_errors(tmp_path, corpus):
    tok, train, val = corpus
    m = _model(tok.vocab_size)
    with pytest.raises(ValueError, match="block_size"):
        train_lm(m, train, val, TrainConfig(max_iters=1, block_size=32), progress=False)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(ValueError):
        TrainConfig(max_iters=0)
    with pytest.raises(ValueError):
        TrainConfig(min_lr=1.0, learning_rate=1e-3)
    with pytest.raises(ValueError, match="vocab_size"):
        save_checkpoint(tmp_path / "x.pt", m, CharTokenizer.from_text("ab"))
