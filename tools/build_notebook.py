#!/usr/bin/env python
"""Build a notebook from its percent-format source with jupytext, then execute and save it.

    python tools/build_notebook.py notebooks/src/00_start_here.py [...]

Source format: jupytext's "percent" format (VS Code and Spyder read it too), with the options of
``notebooks/jupytext.toml``:

    # %% [markdown]
    # # A title
    # Some *markdown*; every line starts with "# " (or is a lone "#").

    # %%
    x = 1 + 1          # a code cell

    # %% tags=["exercise"]
    # EXERCISE: stable_softmax
    def stable_softmax(z, dim=-1):
        raise NotImplementedError

The notebook is written to notebooks/<name>.ipynb and executed in a fresh kernel exactly as
``tools/run_notebook.py`` does. Sources live in notebooks/src/ so that diffs stay readable. Only the
cells' type, source and tags go into the notebook (no jupytext metadata: the pairing lives in
``notebooks/jupytext.toml``).

Editing in JupyterLab instead: with jupytext installed (requirements.txt), ``notebooks/jupytext.toml``
pairs ``notebooks/NN.ipynb`` with ``notebooks/src/NN.py``; open the ``.ipynb`` (or the ``.py``: "Open
With > Jupytext Notebook"), and every save writes both files. ``jupytext --sync notebooks/NN.ipynb`` does the
same from a shell. Either way, rebuild with this tool before committing, so that the outputs are
those of a fresh, reproducible run; ``tests/test_notebook_sources.py`` checks that each pair holds
the same cells.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from jupytext.config import load_jupytext_config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebook import execute  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def read_source(path: Path) -> nbformat.NotebookNode:
    """The cells of a percent-format source, read by jupytext with the project's options
    (``notebooks/jupytext.toml``: magics such as ``# %matplotlib inline`` stay commented, as written)."""
    path = Path(path)
    config = load_jupytext_config(str(path.resolve()))
    if config is None:
        raise FileNotFoundError(f"no jupytext configuration above {path} (expected {NOTEBOOKS / 'jupytext.toml'})")
    return jupytext.read(path, fmt="py:percent", config=config)


def parse(path: Path) -> nbformat.NotebookNode:
    """The notebook built from ``path``: its cells with their tags and nothing else."""
    source = read_source(path)
    cells = []
    for c in source.cells:
        cell = (nbformat.v4.new_markdown_cell if c.cell_type == "markdown" else nbformat.v4.new_code_cell)(c.source)
        if c.metadata.get("tags"):
            cell.metadata["tags"] = list(c.metadata["tags"])
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--no-execute", action="store_true", help="only convert")
    args = parser.parse_args()
    for src in args.sources:
        nb = parse(src)
        out = src.resolve().parent.parent / f"{src.stem}.ipynb"
        nbformat.write(nb, out)
        if args.no_execute:
            print(f"{out}: written")
            continue
        elapsed = execute(out)
        print(f"{out.name}: built, executed and saved in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
