"""Device selection, seeding and determinism settings (lmrl_course.device)."""
import random

import numpy as np
import pytest
import torch

from lmrl_course import device as dev


def test_env_var_overrides_choice(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV_VAR, "cpu")
    assert dev.get_device() == torch.device("cpu")


def test_default_order_is_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv(dev.DEVICE_ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert dev.get_device().type == "cpu"
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert dev.get_device().type == "mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.get_device().type == "cuda"


def test_explicit_argument_beats_env(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV_VAR, "definitely-not-a-device")
    assert dev.get_device("cpu") == torch.device("cpu")


def test_bad_env_value_says_what_was_expected(monkeypatch):
    monkeypatch.setenv(dev.DEVICE_ENV_VAR, "gpu0")
    with pytest.raises(ValueError, match="expected 'cpu', 'cuda'"):
        dev.get_device()


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="torch.cuda.is_available"):
        dev.get_device("cuda")
    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    with pytest.raises(RuntimeError, match="mps"):
        dev.get_device("mps")
    with pytest.raises(TypeError, match="str or torch.device"):
        dev.get_device(3)


def test_available_devices_starts_with_cpu():
    devices = dev.available_devices()
    assert devices[0] == torch.device("cpu")
    assert (torch.device("cuda") in devices) == torch.cuda.is_available()


def _draw():
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_same_seed_same_numbers_different_seed_different_numbers():
    dev.seed_everything(123)
    a = _draw()
    dev.seed_everything(123)
    b = _draw()
    dev.seed_everything(124)
    c = _draw()
    assert a == b
    assert a[0] != c[0] and a[1] != c[1] and a[2] != c[2]


def test_seed_returns_seeded_generator():
    g1 = dev.seed_everything(7)
    g2 = torch.Generator().manual_seed(7)
    assert torch.equal(torch.randn(5, generator=g1), torch.randn(5, generator=g2))


@pytest.mark.parametrize("bad", [-1, 2**63, 1.5, "0", True])
def test_seed_rejects_bad_values(bad):
    with pytest.raises((TypeError, ValueError)):
        dev.seed_everything(bad)


def test_set_determinism_sets_threads_and_flags():
    before_threads = torch.get_num_threads()
    before_det = torch.are_deterministic_algorithms_enabled()
    try:
        dev.set_determinism(threads=1)
        assert torch.get_num_threads() == 1
        assert torch.are_deterministic_algorithms_enabled()
        with pytest.raises(ValueError, match="positive int"):
            dev.set_determinism(threads=0)
    finally:
        torch.set_num_threads(before_threads)
        torch.use_deterministic_algorithms(before_det)


def test_setup_notebook_is_repeatable(capsys):
    before_det = torch.are_deterministic_algorithms_enabled()
    try:
        d1 = dev.setup_notebook(seed=3)
        x1 = torch.randn(4)
        d2 = dev.setup_notebook(seed=3)
        x2 = torch.randn(4)
        assert d1 == d2 and torch.equal(x1, x2)
        out = capsys.readouterr().out
        assert "seed: 3" in out and "threads: 1" in out
    finally:
        torch.use_deterministic_algorithms(before_det)


def test_tensor_lands_on_fixture_device(device):
    x = torch.ones(2, device=device)
    assert x.device.type == device.type
    dev.synchronize(device)
