"""Device selection, seeding and determinism settings (lmrl_course.device)."""
import os
import platform
import random
import subprocess
import sys

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


_ALLOCATOR_PROBE = """
import ctypes, sys, torch
from lmrl_course.device import keep_freed_memory
from lmrl_course.gpt import GPT, GPTConfig

class MallInfo2(ctypes.Structure):  # glibc's malloc statistics (malloc.h)
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
torch.set_num_threads(1)
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
before = libc.mallinfo2()
block = torch.ones(6 * 2**20)  # 24 MiB
during = libc.mallinfo2()
del block
after = libc.mallinfo2()
mib = 2**20
torch.manual_seed(0)
model = GPT(GPTConfig(vocab_size=65, block_size=64, n_layer=2, n_head=4, n_embd=64))
opt = torch.optim.AdamW(model.parameters())
x = torch.randint(0, 65, (8, 64))
for _ in range(5):
    _, loss = model(x, x)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
print(applied, (during.hblkhd - before.hblkhd) / mib, (after.fordblks - before.fordblks) / mib, loss.item().hex())
"""


def _allocator_probe(mode: str) -> tuple:
    """In a fresh process (the setting is process-wide): MiB of a 24 MiB block that glibc served with
    mmap, MiB it kept as free heap after the block was freed, and a training loss to the last bit."""
    out = subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE, mode], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    return out[0], float(out[1]), float(out[2]), out[3]


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="keep_freed_memory acts on glibc's allocator only (it returns False elsewhere)")
def test_keep_freed_memory_keeps_freed_blocks_and_changes_no_result():
    # Reference: the same process without it. glibc then maps a block this large with mmap and
    # returns it to the OS on free (so the next step page-faults it back in, every step).
    _, default_mapped, default_kept, default_loss = _allocator_probe("default")
    applied, kept_mapped, kept_kept, kept_loss = _allocator_probe("keep")
    assert (default_mapped, applied) == (pytest.approx(24, abs=0.1), "True")
    assert default_kept < 1, "by default the freed block goes back to the OS"
    assert kept_mapped == 0, "with keep_freed_memory the block comes from the heap"
    assert kept_kept > 20, "and stays there, free, for the next allocation"
    assert kept_loss == default_loss  # where memory comes from changes no result, to the last bit


def test_keep_freed_memory_elsewhere_and_bad_arguments(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda *a, **k: ("", ""))
    assert dev.keep_freed_memory() is False  # not glibc: nothing done, and it says so
    for bad in (0, -1, 2**31, 1.5, True):
        with pytest.raises(ValueError, match="positive int"):
            dev.keep_freed_memory(mmap_threshold=bad)


def test_reproducible_cpu_env_only_on_x86(monkeypatch):
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert dev.reproducible_cpu_env() == dev.REPRODUCIBLE_CPU_ENV
    assert dev.reproducible_cpu_env() is not dev.REPRODUCIBLE_CPU_ENV  # a copy: callers may change it
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert dev.reproducible_cpu_env() == {}


@pytest.mark.skipif(torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
                    reason="needs an x86-64 CPU with AVX2")
def test_reproducible_cpu_env_takes_effect_in_a_new_process():
    # the notebook kernels start with this environment; PyTorch must then use its AVX2 kernels even on
    # an AVX-512 machine, and MKL must accept the branch (an unknown value makes it print an error)
    env = {**os.environ, **dev.REPRODUCIBLE_CPU_ENV}
    run = subprocess.run([sys.executable, "-c", "import torch; a = torch.ones(64, 64); print((a @ a)[0, 0].item(), "
                          "torch.backends.cpu.get_cpu_capability())"], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    assert run.stdout.split() == ["64.0", "AVX2"]
    assert run.stderr == ""


def test_cpu_name_reads_cpuinfo_and_falls_back(tmp_path, monkeypatch):
    import builtins
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: Test CPU 9000 @ 1.0GHz\nflags\t: fpu\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: real_open(fake if p == "/proc/cpuinfo" else p, *a, **k))
    assert dev.cpu_name() == "Test CPU 9000 @ 1.0GHz"

    def no_cpuinfo(p, *a, **k):
        if p == "/proc/cpuinfo":
            raise FileNotFoundError(p)
        return real_open(p, *a, **k)
    monkeypatch.setattr(builtins, "open", no_cpuinfo)
    assert dev.cpu_name() == f"{platform.machine()} CPU"
