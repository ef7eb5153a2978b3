"""Category expressions in list URLs: ``cs.AI+cs.LG-cs.CY`` (Cool Papers' union and difference).

``+`` or ``,`` joins categories, ``-`` removes papers listed in a category from
the union. A bare archive (``cs``, ``math``) means all of its categories.
Aliases (``cs.NA`` ≡ ``math.NA``, see :mod:`feeds.categories`) are one
category: :meth:`CategorySpec.expanded` gives the names to match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InputError
from feeds.categories import expand

__all__ = ["CategorySpec", "parse_spec"]

_CAT_RE = re.compile(r"^[a-z][a-z-]{0,15}(\.[A-Za-z][A-Za-z-]{0,15})?$")
MAX_CATEGORIES = 40


@dataclass(frozen=True)
class CategorySpec:
    include: tuple[str, ...]
    exclude: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return "+".join(self.include) + "".join(f"-{c}" for c in self.exclude)

    def __str__(self) -> str:
        return self.text

    def expanded(self) -> CategorySpec:
        """The names to match: each category with its aliases (the URL keeps what was typed)."""
        return CategorySpec(expand(self.include), expand(self.exclude))


def _split(text: str) -> list[tuple[str, str]]:
    """Split on + , and - while keeping hyphenated archives (``math-ph``, ``cond-mat.str-el``) whole."""
    out: list[tuple[str, str]] = []
    sign, buf = "+", ""
    i = 0
    while i < len(text):
        c = text[i]
        if c in "+,":
            out.append((sign, buf))
            sign, buf = "+", ""
        elif c == "-" and (not buf or _boundary_minus(text, i, buf)):
            if buf:
                out.append((sign, buf))
            sign, buf = "-", ""
        else:
            buf += c
        i += 1
    out.append((sign, buf))
    return [(s, b) for s, b in out if b]


def _boundary_minus(text: str, i: int, buf: str) -> bool:
    """A '-' starts an exclusion unless it joins a hyphenated name (``math-ph``, ``cond-mat.str-el``)."""
    m = re.match(r"[A-Za-z]+", text[i + 1 :])
    word = m.group(0) if m else ""
    last = buf.rsplit(".", 1)[-1]
    return f"{last}-{word}" not in _HYPHENATED


# arXiv names with a hyphen inside: archives, and subject classes of cond-mat
_HYPHENATED = {
    "math-ph",
    "cond-mat",
    "hep-th",
    "hep-ph",
    "hep-ex",
    "hep-lat",
    "nucl-th",
    "nucl-ex",
    "quant-ph",
    "gr-qc",
    "astro-ph",
    "q-bio",
    "q-fin",
    "chao-dyn",
    "solv-int",
    "patt-sol",
    "adap-org",
    "comp-gas",
    "cmp-lg",
    "alg-geom",
    "dg-ga",
    "funct-an",
    "q-alg",
    "acc-phys",
    "ao-sci",
    "atom-ph",
    "bayes-an",
    "chem-ph",
    "mtrl-th",
    "plasm-ph",
    "supr-con",
    "str-el",
    "dis-nn",
    "mes-hall",
    "mtrl-sci",
    "stat-mech",
    "quant-gas",
}


def parse_spec(text: str) -> CategorySpec:
    """Parse a list URL's category expression; InputError if it is not one."""
    if not text or len(text) > 400:
        raise InputError("not a category list")
    include: list[str] = []
    exclude: list[str] = []
    for sign, name in _split(text.strip()):
        if not _CAT_RE.match(name):
            raise InputError(f"{name[:40]!r} is not an arXiv category like cs.LG")
        target = exclude if sign == "-" else include
        if name not in target:
            target.append(name)
    if not include:
        raise InputError("a category list needs at least one category to include")
    if len(include) + len(exclude) > MAX_CATEGORIES:
        raise InputError(f"at most {MAX_CATEGORIES} categories")
    return CategorySpec(tuple(include), tuple(exclude))
