"""Shared by the answers files that write their answers as one correct body with named holes.

``variant(body, defaults, **changes)`` fills every hole of ``body`` (a placeholder such as ``CLIP``) with
``defaults[hole]``, or with ``changes[hole]`` where given: the correct answer with one mistake put in. An
answers file loads it with ``runpy.run_path(Path(__file__).with_name("_template.py"))["variant"]`` (the
files are loaded by path, not imported as a package). Not an answers file itself: its name starts with ``_``.
"""


def variant(body: str, defaults: dict, **changes) -> str:
    unknown = set(changes) - set(defaults)
    if unknown:
        raise KeyError(f"no such hole(s) {sorted(unknown)}; the holes are {sorted(defaults)}")
    src = body
    for hole, text in {**defaults, **changes}.items():
        src = src.replace(hole, text)
    return src
