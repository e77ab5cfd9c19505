"""The one exception type that the CLI turns into a one-line error and exit code 2."""


class UserError(Exception):
    """Bad input from the user (arguments, config, data files). The message is shown as is."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty), for one-line
    errors built from a library's multi-line message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
