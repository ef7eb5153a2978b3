"""The one error hierarchy of coolstove.

Library exceptions are translated into these only at the boundary module that
talks to the library (``raise ... from exc``); everything above that boundary
catches these and nothing else::

    CoolstoveError
    ├── ConfigError              the config file or an override is wrong
    ├── InputError               a command/request/query from outside is malformed
    ├── DeviceError              a relay could not do what was asked
    │   ├── DeviceUnavailable    no answer (offline, wrong token, timeout)
    │   └── DeviceRejected       it answered, but refused or read back wrong
    ├── StorageError             the database could not be read or written
    ├── FeedError                arXiv could not be fetched or understood
    │   ├── FetchError           HTTP/network failure after retries
    │   └── ParseError           the response is not what arXiv sends
    ├── SearchError              the index failed (queries never raise this)
    ├── LlmError                 the language model's endpoint failed or refused
    └── DaemonNotRunning         the CLI could not reach the daemon
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "CoolstoveError",
    "DaemonNotRunning",
    "DeviceError",
    "DeviceRejected",
    "DeviceUnavailable",
    "FeedError",
    "FetchError",
    "InputError",
    "LlmError",
    "ParseError",
    "SearchError",
    "StorageError",
]


class CoolstoveError(Exception):
    """Base of every error coolstove raises on purpose."""


class ConfigError(CoolstoveError):
    """The configuration cannot be used; the message names the key."""


class InputError(CoolstoveError):
    """Input from outside (MQTT, HTTP, CLI, query) is malformed or out of range."""


class DeviceError(CoolstoveError):
    """A relay did not do what was asked."""


class DeviceUnavailable(DeviceError):
    """The relay did not answer: offline, unreachable, wrong token or timeout."""


class DeviceRejected(DeviceError):
    """The relay answered but refused the command, or read back the wrong state."""


class StorageError(CoolstoveError):
    """A database operation failed; nothing was half-written."""


class FeedError(CoolstoveError):
    """arXiv could not be fetched or its answer understood."""


class FetchError(FeedError):
    """An HTTP request to arXiv failed after the polite retries."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class ArxivUnreachable(FetchError):
    """arXiv could not be connected to at all (no route, refused, DNS, connect timeout): not retried here;
    requests fail at once until the next probe."""


class ParseError(FeedError):
    """A response is not in the format arXiv documents (or is arXiv's error entry)."""


class SearchError(CoolstoveError):
    """The search index failed in a way a rebuild may fix."""


class LlmError(CoolstoveError):
    """A chat-completions call failed: HTTP error, broken stream, unreachable endpoint.

    ``retryable`` says whether asking again may help (429, 5xx, a dropped connection);
    ``retry_after`` is the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class DaemonNotRunning(CoolstoveError):
    """The CLI could not reach the running daemon over HTTP."""
