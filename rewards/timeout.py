"""A per-call time limit that works anywhere: off the main thread, inside Ray actors, in daemon processes.

Signal-based limits (what math-verify uses by default) only work on the main thread. Threads cannot be
stopped. So the bounded work runs in a persistent helper process (`python -m rewards.timeout
module:function`), one request at a time over pipes (JSON lines):
- inside the helper, which is its own main thread, an interval timer interrupts Python-level work at
  the limit (the helper then carries on with the next request);
- the caller waits with `select` and, if the helper has not answered `grace_s` after the limit (stuck in
  C code, e.g. a huge integer power), kills it; the next call starts a fresh one.

The helper is started with subprocess (not multiprocessing), so it works from daemonic processes too.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

TIMED_OUT = object()
"""Returned by `BoundedWorker.call` when the request ran past its limit."""

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


class WorkerError(RuntimeError):
    """The helper process could not be started (e.g. its module fails to import)."""


class BoundedWorker:
    """Runs `module:function(request) -> result` (JSON in, JSON out) in a helper process with a time limit."""

    def __init__(self, target: str, *, startup_timeout_s: float = 60.0, grace_s: float = 0.5):
        self.target = target
        self.startup_timeout_s = startup_timeout_s
        self.grace_s = grace_s
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self.restarts = 0
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p)
        env.setdefault("OMP_NUM_THREADS", "1")
        proc = subprocess.Popen(
            [sys.executable, "-m", "rewards.timeout", self.target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            bufsize=0,
        )
        line = _read_line(proc, time.monotonic() + self.startup_timeout_s)
        if line is None or json.loads(line) != {"ready": True}:
            _kill(proc)
            raise WorkerError(f"helper process for {self.target!r} did not start (does it import?)")
        return proc

    def call(self, request: Any, timeout_s: float) -> Any:
        """The function's result for `request`, or TIMED_OUT after `timeout_s` (+ grace for stuck C code)."""
        payload = (json.dumps({"request": request, "timeout_s": timeout_s}) + "\n").encode()
        if os.getpid() != self._pid:  # a forked child: the helper and its pipes belong to the parent
            self._pid, self._lock, self._proc = os.getpid(), threading.Lock(), None
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            try:
                proc.stdin.write(payload)
                line = _read_line(proc, time.monotonic() + timeout_s + self.grace_s)
            except (BrokenPipeError, OSError):
                line = None
            if line is None:
                _kill(proc)
                self._proc = None
                self.restarts += 1
                return TIMED_OUT
            reply = json.loads(line)
            return TIMED_OUT if reply.get("timed_out") else reply.get("result")

    def close(self) -> None:
        with self._lock:
            if self._proc is not None:
                _kill(self._proc)
                self._proc = None


def _read_line(proc: subprocess.Popen, deadline: float) -> bytes | None:
    """One line from the helper's stdout before `deadline`, else None (raw fd reads, no Python buffering)."""
    fd = proc.stdout.fileno()
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)


def _kill(proc: subprocess.Popen) -> None:
    try:
        proc.kill()
        proc.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):  # already gone, or a zombie the OS will reap
        pass


# ---------------------------------------------------------------------------------------------------------
# Helper process side
# ---------------------------------------------------------------------------------------------------------


class _Interrupted(BaseException):
    """Raised by the interval timer; a BaseException so library code's `except Exception` cannot eat it."""


def _on_alarm(signum, frame):
    raise _Interrupted()


def _serve(target: str) -> None:
    import importlib

    module_name, _, attr = target.partition(":")
    function = getattr(importlib.import_module(module_name), attr)
    signal.signal(signal.SIGALRM, _on_alarm)
    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        message = json.loads(line)
        timeout_s = float(message.get("timeout_s") or 0)
        try:
            if timeout_s > 0:
                signal.setitimer(signal.ITIMER_REAL, timeout_s)
            try:
                reply = {"result": function(message["request"])}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Interrupted:
            reply = {"timed_out": True}
        except Exception as exc:  # noqa: BLE001  (the function's own failure is a result, not a crash of the helper)
            reply = {"result": None, "error": type(exc).__name__}
        out.write((json.dumps(reply) + "\n").encode())
        out.flush()


if __name__ == "__main__":
    _serve(sys.argv[1])
