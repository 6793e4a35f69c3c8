"""Exercises with automatic checking, hints and solutions.

In a notebook::

    from lmrl_course.exercises import check
    result = check("stable_softmax", stable_softmax)   # shows Check / Hint / Show solution
    result                                             # plain text: "[PASS] stable_softmax: ..."
    softmax = result.function   # yours if it passed, else the reference: the notebook runs on

Catalogue modules (one per track) register exercises with :func:`register`; they are imported
lazily the first time an exercise is looked up.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Callable

from .core import FAIL, NOT_ATTEMPTED, PASS, Case, CheckResult, Exercise, compare_outputs, run_check

_REGISTRY: dict[str, Exercise] = {}
_SYSTEM_MODULES = {"core", "widget", "sandbox"}
# Every other module of this package is a catalogue (one per track or topic); a new file is picked up.
CATALOGUES = tuple(sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])
                          if m.name not in _SYSTEM_MODULES and not m.name.startswith("_")))
_loaded = False


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to the registry (re-registering the same name replaces it)."""
    if not isinstance(exercise, Exercise):
        raise TypeError(f"register() takes an Exercise, got {type(exercise).__name__}")
    _REGISTRY[exercise.name] = exercise
    return exercise


def _load_catalogues() -> None:
    global _loaded
    if _loaded:
        return
    for name in CATALOGUES:
        try:
            importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    _loaded = True


def all_exercises() -> dict[str, Exercise]:
    """Every registered exercise, by name."""
    _load_catalogues()
    return dict(_REGISTRY)


def get_exercise(name: str) -> Exercise:
    """The exercise called ``name``; a ``KeyError`` lists the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"exercise name must be a str, got {type(name).__name__}")
    _load_catalogues()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"no exercise called {name!r}; known exercises: {known}")
    return _REGISTRY[name]


def check(exercise: str | Exercise, fn: Callable) -> CheckResult:
    """Check the learner's ``fn`` against an exercise (by name or object). Never raises for a
    mistake in ``fn``: the verdict says what is wrong."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    return run_check(ex, fn)


def reference(name: str) -> Callable:
    """The reference implementation of exercise ``name``."""
    return get_exercise(name).reference


__all__ = ["Case", "CheckResult", "Exercise", "PASS", "FAIL", "NOT_ATTEMPTED", "register", "check",
           "get_exercise", "all_exercises", "reference", "run_check", "compare_outputs"]
