#!/usr/bin/env python
"""Build a notebook from its percent-format source, then execute and save it.

    python tools/build_notebook.py notebooks/src/00_start_here.py [...]

Source format (the "percent" format that Jupytext, VS Code and Spyder also read):

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
``tools/run_notebook.py`` does. Sources live in notebooks/src/ so that diffs stay readable.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_notebook import execute  # noqa: E402

HEADER = re.compile(r"^# %%(?P<md> \[markdown\])?(?:\s+tags=(?P<tags>\[.*\]))?\s*$")


def parse(source: str) -> nbformat.NotebookNode:
    cells = []
    kind, tags, lines = None, [], []

    def flush():
        if kind is None:
            return
        while lines and not lines[-1].strip():
            lines.pop()
        while lines and not lines[0].strip():
            lines.pop(0)
        if kind == "markdown":
            text = "\n".join(l[2:] if l.startswith("# ") else ("" if l.strip() == "#" else l) for l in lines)
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell("\n".join(lines))
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in source.splitlines():
        m = HEADER.match(line)
        if m:
            flush()
            kind = "markdown" if m.group("md") else "code"
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", type=Path)
    parser.add_argument("--no-execute", action="store_true", help="only convert")
    args = parser.parse_args()
    for src in args.sources:
        nb = parse(src.read_text(encoding="utf-8"))
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
