"""The one exception type that the CLI turns into a one-line error and exit code 2."""


class UserError(Exception):
    """Bad input from the user (arguments, config, data files). The message is shown as is."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when the message is empty), for one-line
    errors built from a library's multi-line message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process gets SIGTERM (a scheduler's preemption, `timeout`), so
    SIGTERM unwinds like Ctrl-C: `finally` blocks run and temp files are removed. The CLI exits with 143."""

    exit_code = 143


def raise_terminated(signum, frame) -> None:
    """A signal handler: raise `Terminated` (installed for SIGTERM by the `logicrl` command)."""
    import signal

    raise Terminated(f"terminated by {signal.Signals(signum).name}")
