"""coolstove's daemon: configuration, the event loop that composes every part, the CLI."""
