"""Placeholder: filled in by the algorithms work."""

__all__: list[str] = []
