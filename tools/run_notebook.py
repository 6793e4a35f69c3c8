#!/usr/bin/env python
"""Execute notebooks top to bottom in a fresh kernel and save them with their outputs.

    python tools/run_notebook.py notebooks/00_start_here.ipynb [more.ipynb ...]

The kernel gets the same environment as under ``pytest --nbval`` (see conftest.py): the CPU,
``PYTHONHASHSEED=0``, ``lmrl_course.device.reproducible_cpu_env()``, this interpreter. Prints each
notebook's runtime.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmrl_course.device import reproducible_cpu_env  # noqa: E402


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    env_before = dict(os.environ)
    os.environ["LMRL_DEVICE"] = os.environ.get("LMRL_NOTEBOOK_DEVICE", "cpu")
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ.update(reproducible_cpu_env())
    os.environ.pop("MPLBACKEND", None)
    try:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        client.execute()
        elapsed = time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    args = parser.parse_args()
    for path in args.notebooks:
        if not path.exists():
            print(f"no such notebook: {path}", file=sys.stderr)
            return 2
        elapsed = execute(path, args.timeout)
        print(f"{path}: executed and saved in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
