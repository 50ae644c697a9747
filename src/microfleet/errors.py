"""Domain errors. Each message says what to do next; the CLI and API edges format them."""


def first_line(exc: BaseException) -> str:
    """An exception as one line for a user: its message's first line, else its type."""
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


class MicrofleetError(Exception):
    """Base class for every error microfleet raises on purpose."""


class UserError(MicrofleetError):
    """The caller's mistake: a bad argument, path, URL or setting."""


class DocumentError(MicrofleetError):
    """One document could not be read or parsed; the rest of the batch goes on."""


class SourceError(MicrofleetError):
    """A source (feed, WebSocket, stdin) failed as a whole."""


class StoreError(MicrofleetError):
    """The vector store could not be opened or answered with an error."""


class EmptySetError(MicrofleetError):
    """A labelled evaluation set with no valid question (exit 1)."""
