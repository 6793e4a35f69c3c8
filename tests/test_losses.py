"""Tests for lmrl_course.losses against torch.nn.functional, float64 gradcheck and hand formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from lmrl_course.losses import (bits_per_char, cross_entropy, entropy, kl_divergence, log_softmax, perplexity,
                                softmax)



def _logits(*shape, scale=3.0, seed=0, dtype=torch.float32):
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_log_softmax_and_softmax_match_torch(device, dim):
    z = _logits(4, 5, 7).to(device)
    torch.testing.assert_close(log_softmax(z, dim), torch.log_softmax(z, dim))
    torch.testing.assert_close(softmax(z, dim), torch.softmax(z, dim))


def test_log_softmax_extreme_logits_are_finite_and_correct(device):
    z = torch.tensor([[1e4, -1e4, 0.0], [1e4, 1e4, 1e4], [-1e4, -1e4 + 1, -1e4]], device=device)
    out = log_softmax(z)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, torch.log_softmax(z, -1))
    torch.testing.assert_close(softmax(z), torch.softmax(z, -1))
    # with -inf entries (masked options) the others stay finite, as in torch
    zm = torch.tensor([[0.0, float("-inf"), 1.0]], device=device)
    torch.testing.assert_close(log_softmax(zm), torch.log_softmax(zm, -1))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.7])
def test_cross_entropy_matches_torch_2d(device, reduction, label_smoothing):
    z = _logits(20, 11).to(device)
    y = torch.randint(0, 11, (20,), generator=torch.Generator().manual_seed(1)).to(device)
    y[3] = y[7] = -100
    ours = cross_entropy(z, y, reduction=reduction, label_smoothing=label_smoothing)
    ref = F.cross_entropy(z, y, reduction=reduction, label_smoothing=label_smoothing)
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch_3d_custom_ignore_index(device, reduction):
    z = _logits(3, 6, 9).to(device)  # (B, T, V)
    y = torch.randint(0, 9, (3, 6), generator=torch.Generator().manual_seed(2)).to(device)
    y[0, :2] = 4  # class 4 doubles as the ignore index here
    ours = cross_entropy(z, y, ignore_index=4, reduction=reduction, label_smoothing=0.2)
    ref = F.cross_entropy(z.transpose(1, 2), y, ignore_index=4, reduction=reduction, label_smoothing=0.2)  # torch: (B, V, T)
    torch.testing.assert_close(ours, ref)


def test_cross_entropy_extreme_logits(device):
    z = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [0.0, 0.0, 1e4]], device=device)
    y = torch.tensor([1, 1, 0], device=device)
    for ls in (0.0, 0.1):
        ours = cross_entropy(z, y, reduction="none", label_smoothing=ls)
        assert torch.isfinite(ours).all()
        torch.testing.assert_close(ours, F.cross_entropy(z, y, reduction="none", label_smoothing=ls))


def test_cross_entropy_all_ignored_mean_is_nan_like_torch():
    z = _logits(4, 3)
    y = torch.full((4,), -100)
    assert torch.isnan(cross_entropy(z, y)) and torch.isnan(F.cross_entropy(z, y))
    assert cross_entropy(z, y, reduction="sum") == 0


def test_cross_entropy_of_uniform_logits_is_log_V():
    z = torch.zeros(5, 65)
    y = torch.arange(5)
    torch.testing.assert_close(cross_entropy(z, y), torch.tensor(math.log(65)))


def test_gradcheck_float64():
    z = _logits(6, 5, dtype=torch.float64).requires_grad_()
    y = torch.tensor([0, 4, -100, 2, 2, 1])
    assert torch.autograd.gradcheck(lambda t: cross_entropy(t, y, label_smoothing=0.1), (z,))
    assert torch.autograd.gradcheck(lambda t: cross_entropy(t, y, reduction="none"), (z,))
    assert torch.autograd.gradcheck(lambda t: log_softmax(t, 0), (z,))
    assert torch.autograd.gradcheck(lambda t: softmax(t, -1), (z,))
    assert torch.autograd.gradcheck(entropy, (z,))
    q = _logits(6, 5, seed=5, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(kl_divergence, (z, q))


def test_cross_entropy_gradient_is_softmax_minus_one_hot(device):
    z = _logits(8, 10).to(device).requires_grad_()
    y = torch.randint(0, 10, (8,), generator=torch.Generator().manual_seed(4)).to(device)
    cross_entropy(z, y, reduction="sum").backward()
    expected = torch.softmax(z.detach(), -1) - F.one_hot(y, 10).float()  # worked out by hand
    torch.testing.assert_close(z.grad, expected)
    z.grad = None
    cross_entropy(z, y).backward()  # mean: divided by N
    torch.testing.assert_close(z.grad, expected / 8)


def test_entropy_matches_categorical(device):
    z = _logits(4, 7).to(device)
    torch.testing.assert_close(entropy(z), torch.distributions.Categorical(logits=z).entropy())
    torch.testing.assert_close(entropy(torch.zeros(3, 16)), torch.full((3,), math.log(16)))
    # masked (-inf) options: finite value and finite gradient
    zm = torch.tensor([[0.0, float("-inf"), 0.0]], requires_grad=True)
    h = entropy(zm)
    h.sum().backward()
    torch.testing.assert_close(h.detach(), torch.tensor([math.log(2)]))
    assert torch.isfinite(zm.grad).all()


def test_kl_divergence_matches_torch(device):
    p, q = _logits(5, 9).to(device), _logits(5, 9, seed=1).to(device)
    ref = F.kl_div(torch.log_softmax(q, -1), torch.log_softmax(p, -1), reduction="none", log_target=True).sum(-1)
    torch.testing.assert_close(kl_divergence(p, q), ref)
    assert (kl_divergence(p, q) >= 0).all()
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(5, device=device))
    # p with zero-probability options: those terms count 0
    pm = torch.tensor([[0.0, float("-inf")]])
    torch.testing.assert_close(kl_divergence(pm, torch.zeros(1, 2)), torch.tensor([math.log(2.0)]))


def test_perplexity_and_bits_per_char():
    assert perplexity(math.log(65)) == pytest.approx(65)
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    assert bits_per_char(1.5) == pytest.approx(1.5 / 0.6931471805599453)
    torch.testing.assert_close(perplexity(torch.tensor(0.0)), torch.tensor(1.0))
    with pytest.raises(TypeError):
        perplexity("1.0")


def test_cross_entropy_errors():
    z = _logits(4, 5)
    with pytest.raises(ValueError, match="shape"):
        cross_entropy(z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(z, torch.zeros(4))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        cross_entropy(z, torch.tensor([0, 1, 5, 2]))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(z, torch.zeros(4, dtype=torch.long), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(z, torch.zeros(4, dtype=torch.long), label_smoothing=1.5)
    with pytest.raises(ValueError, match="dimensions"):
        cross_entropy(torch.zeros(5), torch.zeros((), dtype=torch.long))
    with pytest.raises(ValueError, match="dim"):
        log_softmax(z, dim=2)
