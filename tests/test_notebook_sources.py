"""Every notebooks/src/NN.py and its notebooks/NN.ipynb hold the same cells: type, source, tags.

The .py is read by jupytext (with notebooks/jupytext.toml, the pairing that JupyterLab uses), the
.ipynb by nbformat. A cell edited in only one of the two files (or added, removed, re-tagged) fails
here: rebuild with `python tools/build_notebook.py notebooks/src/NN.py`, or save the pair in
JupyterLab with jupytext.
"""
from pathlib import Path

import jupytext
import nbformat
import pytest
from jupytext.config import load_jupytext_config

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SOURCES = sorted((NOTEBOOKS / "src").glob("*.py"))


def cells(nb) -> list[tuple[str, str, list]]:
    return [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in nb.cells]


def read_source(path: Path):
    config = load_jupytext_config(str(path))
    assert config is not None, "notebooks/jupytext.toml not found"
    return jupytext.read(path, fmt="py:percent", config=config)


def first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"cell {i}: source {x!r:.300}\n  notebook {y!r:.300}"
    return "" if len(a) == len(b) else f"{len(a)} cells in the source, {len(b)} in the notebook"


def test_every_source_has_a_notebook_and_back():
    assert len(SOURCES) >= 10
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == [p.stem for p in SOURCES]


def test_pairing_config_pairs_the_notebook_with_its_source():
    config = load_jupytext_config(str(NOTEBOOKS / "00_start_here.ipynb"))
    formats = config.formats if isinstance(config.formats, str) else ",".join(config.formats)
    assert formats == "ipynb,src//py:percent"
    assert config.comment_magics is False  # "# %matplotlib inline" reads back as written


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.stem)
def test_source_and_notebook_hold_the_same_cells(src):
    ours = cells(read_source(src))
    theirs = cells(nbformat.read(NOTEBOOKS / f"{src.stem}.ipynb", as_version=4))
    assert ours == theirs, f"{src.name} and {src.stem}.ipynb differ at {first_difference(ours, theirs)}"


def test_a_cell_edited_on_one_side_is_seen(tmp_path):
    # the comparison itself: one character changed in one cell of the source, a tag dropped in the other
    src = SOURCES[0]
    (tmp_path / "src").mkdir()
    (tmp_path / "jupytext.toml").write_text((NOTEBOOKS / "jupytext.toml").read_text())
    nb = nbformat.read(NOTEBOOKS / f"{src.stem}.ipynb", as_version=4)
    text = src.read_text(encoding="utf-8")
    edited = tmp_path / "src" / src.name
    edited.write_text(text.replace("device = setup_notebook(seed=0)", "device = setup_notebook(seed=1)", 1))
    assert cells(read_source(edited)) != cells(nb)
    edited.write_text(text)
    assert cells(read_source(edited)) == cells(nb)
    tagged = next(c for c in nb.cells if c.metadata.get("tags"))
    tagged.metadata["tags"] = []
    assert cells(read_source(edited)) != cells(nb)


def test_saving_in_jupyterlab_rewrites_no_source_and_writes_an_edit(tmp_path):
    # jupytext's contents manager is what JupyterLab saves through when jupytext is installed
    from jupytext import TextFileContentsManager

    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    (tmp_path / "notebooks" / "jupytext.toml").write_text((NOTEBOOKS / "jupytext.toml").read_text())
    for src in SOURCES:
        (tmp_path / "notebooks" / "src" / src.name).write_bytes(src.read_bytes())
        (tmp_path / "notebooks" / f"{src.stem}.ipynb").write_bytes((NOTEBOOKS / f"{src.stem}.ipynb").read_bytes())
    cm = TextFileContentsManager(root_dir=str(tmp_path))
    for src in SOURCES:  # open and save each notebook: its source stays byte for byte
        path = f"notebooks/{src.stem}.ipynb"
        cm.save(cm.get(path), path)
        assert (tmp_path / "notebooks" / "src" / src.name).read_text(encoding="utf-8") == \
            src.read_text(encoding="utf-8"), src.name
    # an edit of one markdown cell in the notebook reaches the .py as exactly that one line
    path = f"notebooks/{SOURCES[0].stem}.ipynb"
    model = cm.get(path)
    cell = next(c for c in model["content"].cells if c.cell_type == "markdown")
    cell.source += "\nEdited in JupyterLab."
    cm.save(model, path)
    before = SOURCES[0].read_text(encoding="utf-8").splitlines()
    after = (tmp_path / "notebooks" / "src" / SOURCES[0].name).read_text(encoding="utf-8").splitlines()
    assert [line for line in after if line not in before] == ["# Edited in JupyterLab."]
    assert len(after) == len(before) + 1
    ours = cells(read_source(tmp_path / "notebooks" / "src" / SOURCES[0].name))
    assert ours == cells(nbformat.read(tmp_path / path, as_version=4))
