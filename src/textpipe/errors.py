"""The few named exceptions textpipe raises; every message says what was wrong,
where, and what to do about it."""


class TextpipeError(Exception):
    """Base class: the CLI turns any of these into one clear line."""


class ConfigError(TextpipeError):
    """A setting or command-line value is invalid (exit code 2)."""


class MissingResourceError(TextpipeError):
    """A language resource (VADER lexicon, Punkt, stop words) cannot be found."""


class BadInputError(TextpipeError):
    """One input file or record cannot be used; carries a reject reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class OutputError(TextpipeError):
    """The output folder cannot be written, is locked, or holds a corrupt file."""


class RunLockedError(OutputError):
    """Another textpipe run holds the lock on the same output folder."""


class StoreNotFoundError(ConfigError, FileNotFoundError):
    """No textpipe store (no committed run) at the folder given (exit code 2 in the CLI)."""
