"""Errors a user can cause, each rendered as one line: what is wrong, then how to fix it.

Every module raises a subclass of :class:`GemmacodeError` for conditions the user can act on
(no server, unknown model, bad config, not a git repository). The CLI prints ``str(err)`` and
exits with ``err.exit_code``; anything else is a bug and may show a traceback.
"""

from __future__ import annotations


class GemmacodeError(Exception):
    """Base class: ``message`` says what is wrong, ``fix`` says what to do about it."""

    exit_code = 2

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        if self.fix:
            return f"{self.message}; {self.fix}"
        return self.message


class ConfigError(GemmacodeError):
    """A configuration file, variable or flag has a bad key or value."""


class UsageError(GemmacodeError):
    """The command line asks for something that cannot be done as written."""


class NotARepositoryError(GemmacodeError):
    """A git operation was asked for outside a git repository."""


class IndexError_(GemmacodeError):
    """The repository index could not be built or read."""


class BackendError(GemmacodeError):
    """Base for model-server problems."""


class ServerUnreachableError(BackendError):
    """The model server did not answer at all."""


class ModelNotFoundError(BackendError):
    """The server does not have the requested model."""


class OutOfMemoryError(BackendError):
    """The server could not load the model at the requested size."""


class RequestTimeoutError(BackendError):
    """The server accepted the request but did not finish in time."""


class StreamInterruptedError(BackendError):
    """An error arrived after the stream had started; ``partial`` keeps what was received."""

    def __init__(self, message: str, fix: str = "", partial: str = "") -> None:
        super().__init__(message, fix)
        self.partial = partial


class ContextOverflowError(GemmacodeError):
    """A prompt cannot be made to fit the context size even after dropping every optional part."""
