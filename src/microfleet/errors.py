"""Domain errors. Each message says what to do next; the CLI and API edges format them."""


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
