"""Test configuration shared by the package tests (tests/) and nbval (notebooks/).

- ``device`` fixture: every available device (CPU, plus CUDA/MPS where present), or only the one
  named by ``$LMRL_DEVICE``.
- Notebook kernels started by nbval inherit this process's environment, so it is fixed here:
  ``PYTHONHASHSEED=0`` (set printing order), ``LMRL_DEVICE=cpu`` (stored outputs were made on the
  CPU; set ``LMRL_NOTEBOOK_DEVICE`` to replay them elsewhere), no display backend surprises, and
  ``reproducible_cpu_env()`` (MKL and PyTorch kernels that give the same bits on Intel and AMD CPUs).
  This process imported torch before setting them, so the package tests run with the fast defaults.
- The sanitize file is given by absolute path (nbval resolves it from the current directory).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from lmrl_course.device import available_devices, get_device, reproducible_cpu_env

ROOT = Path(__file__).resolve().parent
SANITIZE_FILE = ROOT / "tests" / "nbval_sanitize.cfg"

# Devices for the package tests, decided before LMRL_DEVICE is changed for the notebook kernels.
if os.environ.get("LMRL_DEVICE", "").strip():
    TEST_DEVICES = [get_device()]
else:
    TEST_DEVICES = available_devices()

os.environ["LMRL_DEVICE"] = os.environ.get("LMRL_NOTEBOOK_DEVICE", "cpu")
os.environ["PYTHONHASHSEED"] = "0"
os.environ.update(reproducible_cpu_env())  # same bits on Intel and AMD CPUs (see lmrl_course.device)
os.environ.pop("MPLBACKEND", None)
os.environ.setdefault("TQDM_DISABLE", "")  # progress bars stay on; tqdm.auto renders them as widgets

torch.set_num_threads(1)  # small models are as fast on one thread, and results are repeatable


def pytest_configure(config):
    opt = config.option
    if getattr(opt, "nbval", False) and not getattr(opt, "nbval_sanitize_with", None):
        opt.nbval_sanitize_with = str(SANITIZE_FILE)
    config.addinivalue_line("markers", "slow: a test that trains a model to a goal (tens of seconds)")


@pytest.fixture(params=TEST_DEVICES, ids=lambda d: d.type)
def device(request) -> torch.device:
    """Each available device in turn (CPU always; CUDA/MPS when present; $LMRL_DEVICE picks one)."""
    return request.param
