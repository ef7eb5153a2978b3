"""arXiv's category aliases: two names for one subject class, merged as arXiv and Cool Papers merge them.

arXiv files a paper submitted to ``cs.NA`` under ``math.NA`` too (and lists
it in both), so a list, a union or difference, a search filter or a feed of
either name must mean both. The canonical name is the one arXiv's category
taxonomy lists first. This table is the one place the pairs are written down.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ALIASES", "archive_of", "canonical", "equivalents", "expand"]

ALIASES: tuple[tuple[str, str], ...] = (  # (canonical, alias)
    ("math.NA", "cs.NA"),
    ("eess.SY", "cs.SY"),
    ("cs.IT", "math.IT"),
    ("math-ph", "math.MP"),
    ("econ.GN", "q-fin.EC"),
    ("math.ST", "stat.TH"),
)

_CANONICAL: dict[str, str] = {}
_GROUPS: dict[str, tuple[str, ...]] = {}
for _canon, _alias in ALIASES:
    _CANONICAL[_alias.lower()] = _canon
    _CANONICAL[_canon.lower()] = _canon
    _GROUPS[_canon.lower()] = _GROUPS[_alias.lower()] = (_canon, _alias)


def archive_of(category: str) -> str:
    """``cs.LG`` → ``cs``; a name without a subject (``math-ph``, ``hep-th``) is its own archive."""
    return category.split(".", 1)[0]


def canonical(category: str) -> str:
    """The canonical name of a category (``cs.NA`` → ``math.NA``); any other name is returned as given."""
    return _CANONICAL.get(category.lower(), category)


def equivalents(category: str) -> tuple[str, ...]:
    """The category and its alias, canonical first (``("math.NA", "cs.NA")``); else just the category."""
    return _GROUPS.get(category.lower(), (category,))


def expand(names: Iterable[str]) -> tuple[str, ...]:
    """Every name with its aliases; an archive (``cs``) also gains the categories aliased into it
    from another archive (``math.NA``, ``eess.SY``, ``math.IT``). Order kept, no duplicates."""
    out: dict[str, None] = {}
    for name in names:
        out[name] = None
        if "." in name or name.lower() in _GROUPS:
            for other in equivalents(name):
                out[other] = None
        if "." not in name:
            for pair in ALIASES:
                for inside, partner in (pair, pair[::-1]):
                    if archive_of(inside) == name and archive_of(partner) != name:
                        out[partner] = None
    return tuple(out)
