"""The arXiv feed: a polite crawler into a Cool-Papers-style database."""
