"""The paper pages (day lists, papers, search, stars, Atom feeds) served by the daemon."""

from __future__ import annotations

from markupsafe import Markup

from core.config import Config
from search.web.router import STATIC_DIR, STATIC_PREFIX, make_router, templates

__all__ = ["STATIC_DIR", "STATIC_PREFIX", "home_partial", "make_router"]


def home_partial(cfg: Config) -> Markup:
    """The papers section of the daemon's home page (search box, followed categories), as safe HTML."""
    categories = cfg.papers.categories
    html = templates().get_template("home_partial.html").render(configured=categories)
    return Markup(html)  # noqa: S704 - rendered by the autoescaping environment
