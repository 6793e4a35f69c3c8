"""One place that decides where tensors live and how runs are made repeatable.

Every module of the course takes a ``device`` argument (or reads it from its inputs); none of them
calls ``.cuda()`` itself. This module chooses that device:

    CUDA  ->  Apple MPS  ->  CPU          (first available wins)

and the environment variable ``LMRL_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides the
choice. It also seeds Python, NumPy and PyTorch, and fixes the thread count and determinism flags
that make notebook outputs identical from run to run (a different number of threads changes the
order of floating-point reductions, and so the last bits of a sum).
"""
from __future__ import annotations

import os
import platform
import random
from typing import Optional, Union

import numpy as np
import torch

DEVICE_ENV_VAR = "LMRL_DEVICE"

DeviceLike = Union[str, torch.device, None]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[torch.device]:
    """All device kinds this machine can run the course on, CPU always first."""
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if _mps_available():
        devices.append(torch.device("mps"))
    return devices


def _check_usable(device: torch.device, source: str) -> torch.device:
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{source} asks for {device}, but torch.cuda.is_available() is False "
                           "(no NVIDIA GPU, or a CPU-only build of torch). Use 'cpu' instead.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise RuntimeError(f"{source} asks for {device}, but only {torch.cuda.device_count()} CUDA device(s) exist.")
    if device.type == "mps" and not _mps_available():
        raise RuntimeError(f"{source} asks for 'mps', but Apple's Metal backend is not available here.")
    if device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{source}: unsupported device type {device.type!r}; expected 'cpu', 'cuda' or 'mps'.")
    return device


# Stored notebook outputs are compared bit for bit (nbval). The same code gives other last bits on
# another CPU: MKL picks its matrix-multiply kernels by processor vendor and model, and PyTorch and
# NumPy pick AVX-512 or AVX2 loops for softmax, LayerNorm, sums, ... (a wider vector adds in another
# order); after a few hundred training steps the difference shows in the third decimal and in sampled
# text. These variables, set before a process starts, fix each choice on any x86-64 CPU with AVX2:
# MKL's "compatible" branch (the same instructions on Intel and AMD, matrix products about 2x
# slower; checked: one product gave the same bits on an AMD EPYC and an emulated Intel Haswell with
# it, different bits without), PyTorch's AVX2 kernels, oneDNN's AVX2 code, NumPy without AVX-512.
# The notebook kernels of the tests and of tools/run_notebook.py start with them.
REPRODUCIBLE_CPU_ENV = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
                        "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR"}


def reproducible_cpu_env() -> dict[str, str]:
    """The environment variables that make CPU results identical across x86-64 machines
    (:data:`REPRODUCIBLE_CPU_ENV`), or ``{}`` on other processors (Apple silicon, ARM), where the
    stored outputs are not expected to match to the last bit anyway. They act on a process started
    after they are set; setting them inside a running process changes nothing."""
    return dict(REPRODUCIBLE_CPU_ENV) if platform.machine().lower() in ("x86_64", "amd64") else {}


def get_device(device: DeviceLike = None) -> torch.device:
    """Return the device to run on.

    Order of precedence: the ``device`` argument, then ``$LMRL_DEVICE``, then the first available of
    CUDA, MPS, CPU. Asking for a device that is not available raises a ``RuntimeError`` that says so.
    """
    if device is not None:
        if not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
        try:
            dev = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(f"cannot parse device {device!r}: expected 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
        return _check_usable(dev, "get_device(device=...)")
    env = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if env:
        try:
            dev = torch.device(env)
        except RuntimeError as exc:
            raise ValueError(f"${DEVICE_ENV_VAR}={env!r} is not a device: expected 'cpu', 'cuda', 'cuda:N' or 'mps'") from exc
        return _check_usable(dev, f"${DEVICE_ENV_VAR}={env!r}")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's ``random``, NumPy and PyTorch (all devices) with ``seed``.

    Returns a fresh CPU ``torch.Generator`` seeded with ``seed`` for code that prefers an explicit
    generator over the global one.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**63:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if _mps_available():
        torch.mps.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def set_determinism(threads: Optional[int] = 1, deterministic: bool = True) -> None:
    """Fix the intra-op thread count and ask torch for deterministic kernels.

    ``threads=None`` leaves the thread count alone. Deterministic algorithms are requested with
    ``warn_only=True`` so that an op without a deterministic version warns rather than fails.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int or None, got {threads!r}")
        torch.set_num_threads(threads)
    if deterministic:
        # cuBLAS needs this for deterministic matmuls; harmless elsewhere.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


def setup_notebook(seed: int = 0, threads: int = 1, device: DeviceLike = None, verbose: bool = True) -> torch.device:
    """The first code cell of every notebook: seed, fix threads, choose the device, say what was chosen.

    One thread keeps stored outputs identical on a laptop and on a 2-core CI machine (and was as
    fast as two for the course's small models).
    """
    set_determinism(threads=threads, deterministic=True)
    seed_everything(seed)
    dev = get_device(device)
    if verbose:
        print(f"device: {dev.type} | torch {torch.__version__.split('+')[0]} | threads: {torch.get_num_threads()} | seed: {seed}")
    return dev


# glibc's mallopt() parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_threshold: int = 32 * 2**20, trim_threshold: int = 256 * 2**20) -> bool:
    """Ask glibc's allocator to keep freed memory for reuse instead of handing it back to the OS.

    A training step allocates and frees the same activation buffers (hundreds of KiB to a few MiB)
    every iteration. By default glibc serves large blocks with ``mmap`` and returns them on ``free``,
    so the next step page-faults the same memory back in and the kernel zeroes it again: on the
    benchmark GPT about 750 page faults and 2-3 ms per step (5 % of it). Raising the mmap threshold
    (blocks below ``mmap_threshold`` come from the heap) and the trim threshold (up to
    ``trim_threshold`` bytes of free heap are kept) removes that cost; results are unchanged, the
    process just keeps its peak memory. Process-wide and not undone. Returns True where applied
    (Linux with glibc), False elsewhere (macOS, Windows, musl), where it does nothing.
    """
    for name, v in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 2**31 - 1:
            raise ValueError(f"{name} must be a positive int below 2**31 bytes, got {v!r}")
    import ctypes

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; glibc caps the mmap threshold at 32 MiB on 64-bit machines
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, min(mmap_threshold, 32 * 2**20))) and \
        bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one (else e.g. "arm64 CPU"): what the precomputed
    assets and the benches record as the machine that produced them."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{platform.machine()} CPU"


def describe_device(device: DeviceLike = None) -> str:
    """A one-line, human-readable description of ``device`` (name of the GPU where there is one)."""
    dev = get_device(device)
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def device_for_rank(device: DeviceLike, local_rank: int) -> torch.device:
    """The device of one process of a data-parallel run (one process per device, torchrun's
    ``LOCAL_RANK``): ``cuda`` becomes ``cuda:<local_rank>`` (and torch's current CUDA device), a CPU
    stays the CPU (every process shares it), MPS has one device. ``device`` as for :func:`get_device`."""
    if isinstance(local_rank, bool) or not isinstance(local_rank, int) or local_rank < 0:
        raise ValueError(f"local_rank must be a non-negative int, got {local_rank!r}")
    dev = get_device(device)
    if dev.type == "cuda":
        dev = _check_usable(torch.device("cuda", local_rank), f"process with LOCAL_RANK={local_rank}")
        torch.cuda.set_device(dev)
    elif dev.type == "mps" and local_rank > 0:
        raise RuntimeError("Apple's MPS has one device; run a single process (no torchrun) there.")
    return dev


def distributed_backend(device: DeviceLike) -> str:
    """torch.distributed backend for ``device``: ``nccl`` for CUDA, ``gloo`` for the CPU."""
    dev = torch.device(device) if device is not None else get_device()
    if dev.type == "cuda":
        return "nccl"
    if dev.type == "cpu":
        return "gloo"
    raise ValueError(f"no torch.distributed backend for device type {dev.type!r}; expected 'cpu' or 'cuda'")


def synchronize(device: DeviceLike) -> None:
    """Wait for queued GPU work on ``device`` to finish (for honest timings); a no-op on CPU."""
    dev = torch.device(device) if device is not None else get_device()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elif dev.type == "mps":
        torch.mps.synchronize()


__all__ = [
    "DEVICE_ENV_VAR", "REPRODUCIBLE_CPU_ENV", "reproducible_cpu_env", "available_devices", "get_device",
    "seed_everything", "set_determinism", "setup_notebook", "keep_freed_memory", "describe_device", "synchronize",
    "device_for_rank", "distributed_backend",
]
