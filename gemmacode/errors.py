"""Errors a user can cause, each rendered as one line: what is wrong, then how to fix it.

Every module raises a subclass of :class:`GemmacodeError` for conditions the user can act on
(no server, unknown model, bad config, not a git repository). The CLI prints ``str(err)`` and
exits with ``err.exit_code``; anything else is a bug and may show a traceback. All of them
live here, so a front end (the CLI, the terminal UI, the commit hook) can tell them apart
without importing the module that raised them::

    GemmacodeError                   message + fix, exit code 2
    ├── ConfigError                  a bad configuration key, value or file
    ├── UsageError                   a command line that cannot be done as written
    ├── NotARepositoryError          git asked for outside a repository
    ├── IndexBuildError              the repository index could not be built or read
    ├── DatasetError                 an eval dataset is missing or malformed
    ├── ConversationError            the stored conversations cannot be opened or read
    ├── ContextOverflowError         a prompt cannot be made to fit num_ctx
    └── BackendError                 the model server
        ├── ServerUnreachableError   no answer at all
        ├── ServerBusyError          its request queue is full (HTTP 503)
        ├── AuthenticationError      the API key was refused (HTTP 401/403)
        ├── ModelNotFoundError       the model is not installed
        ├── OutOfMemoryError         the model could not be loaded at that size
        ├── RequestTimeoutError      accepted, but not finished in time
        └── StreamInterruptedError   an error after the answer started (keeps ``partial``)
            ├── StreamOutOfMemoryError   (also an OutOfMemoryError)
            └── StreamTimeoutError       (also a RequestTimeoutError)

Private exceptions that never reach a user stay beside the code that raises and catches them
(``ResponseError`` of the Ollama wire client, the lenient JSON reader's ``NotJson``, the
index cache's ``CorruptCacheError``).
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


class IndexBuildError(GemmacodeError):
    """The repository index could not be built or read."""


class DatasetError(GemmacodeError):
    """An eval dataset is missing, unreadable or malformed."""


class ConversationError(GemmacodeError):
    """The repository's conversation store cannot be opened, read or written."""


class ContextOverflowError(GemmacodeError):
    """A prompt cannot be made to fit the context size even after dropping every optional part."""


class BackendError(GemmacodeError):
    """Base for model-server problems."""


class ServerUnreachableError(BackendError):
    """The model server did not answer at all."""


class ServerBusyError(BackendError):
    """The server's request queue is full (HTTP 503)."""


class AuthenticationError(BackendError):
    """The server rejected the request's API key (HTTP 401/403)."""


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


class StreamOutOfMemoryError(StreamInterruptedError, OutOfMemoryError):
    """The server ran out of memory after the answer had started; ``partial`` keeps the text."""


class StreamTimeoutError(StreamInterruptedError, RequestTimeoutError):
    """The server went quiet in the middle of an answer; ``partial`` keeps the text."""
