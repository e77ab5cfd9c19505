"""Connecting to Ray, and a loopback-only local head for tests and single-machine use.

`connect(settings)` joins the cluster named by the recipe (or by `RAY_ADDRESS`, which Ray sets inside a
submitted job) and otherwise starts a private local Ray bound to 127.0.0.1 with no dashboard.

`LocalHead` runs `ray start --head --block` in its own process group with every port on 127.0.0.1, and
stops exactly the processes it started (that group), never other Ray clusters on the machine, which
`ray stop` would kill as well.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from logicrl.ray.settings import RaySettings

LOOPBACK = "127.0.0.1"


def gcs_address(address: str | None) -> str | None:
    """The address `ray.init` understands: a dashboard URL (for jobs) means "the cluster we run in"."""
    if not address:
        return None
    if address.startswith(("http://", "https://")):
        return "auto" if os.environ.get("RAY_ADDRESS") else None
    return address


def connect(settings: RaySettings | None = None, num_cpus: int | None = None, **init_kwargs):
    """`ray.init` once per process: join the configured / ambient cluster, else start a loopback-only one.

    Inside a submitted Ray job (or with `RAY_ADDRESS` set) this joins that cluster. Otherwise the local
    instance binds 127.0.0.1 only and starts no dashboard.
    """
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():  # a driver, a job or a Ray worker
        return sys.modules["ray"].get_runtime_context()
    address = gcs_address(settings.address if settings else None) or os.environ.get("RAY_ADDRESS")
    if not address or address.split(":")[0] in (LOOPBACK, "localhost"):
        loopback_only()
    import ray
    init_kwargs.setdefault("log_to_driver", True)
    init_kwargs.setdefault("configure_logging", False)
    if address:
        return ray.init(address=address, **init_kwargs)
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # single node: torch.distributed over loopback too
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # a private cluster reports nothing anywhere
    return ray.init(
        num_cpus=num_cpus,
        include_dashboard=False,
        _node_ip_address=LOOPBACK,
        **init_kwargs,
    )


def loopback_only() -> None:
    """Make this process's Ray use 127.0.0.1 as its node address, so every Ray server binds loopback only.

    Ray reads `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` once, at import; when Ray is already imported, the
    constant it was read into is set as well. Without this, Ray maps 127.0.0.1 to the machine's
    external address and its servers listen on all interfaces.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False


def free_port() -> int:
    """A TCP port free on the loopback interface right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


class LocalHead:
    """A single-node Ray head on 127.0.0.1 (GCS, dashboard and job API), stopped by its process group.

    Use as a context manager; `stop()` is safe to call twice and runs even when the body fails.
    """

    def __init__(self, num_cpus: int = 2, temp_dir: str | os.PathLike | None = None, start_timeout: float = 120.0,
                 keep_temp_dir: bool = False):
        self.num_cpus = num_cpus
        # A temp dir made here is removed by stop() (Ray's logs in it are kept with keep_temp_dir=True).
        self._remove_temp_dir = temp_dir is None and not keep_temp_dir
        # Unix socket paths must stay short (< 108 bytes), hence a short private directory under /tmp.
        self.temp_dir = Path(temp_dir) if temp_dir else Path(tempfile.mkdtemp(prefix="lray-", dir="/tmp"))
        self.start_timeout = start_timeout
        self.port = free_port()
        self.dashboard_port = free_port()
        self.client_server_port = free_port()
        self.agent_listen_port = free_port()
        self.process: subprocess.Popen | None = None
        self.log_path = self.temp_dir / "head.log"
        self.token_path = self.temp_dir / "auth_token"

    def client_env(self) -> dict[str, str]:
        """Environment a process needs to talk to this head (token auth, loopback addresses).

        Set it (`os.environ.update`) before `connect()` / `JobSubmissionClient` in the client process.
        """
        return {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
                "RAY_AUTH_TOKEN_PATH": str(self.token_path)}

    @property
    def address(self) -> str:
        """GCS address for `ray.init(address=...)`."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def dashboard_url(self) -> str:
        """Dashboard / job API address for `JobSubmissionClient` and `logicrl submit --address`."""
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    def command(self) -> list[str]:
        ray_bin = str(Path(sys.executable).with_name("ray"))
        return [
            ray_bin, "start", "--head", "--block",
            f"--node-ip-address={LOOPBACK}", f"--dashboard-host={LOOPBACK}",
            f"--port={self.port}", f"--dashboard-port={self.dashboard_port}",
            f"--ray-client-server-port={self.client_server_port}",
            f"--dashboard-agent-listen-port={self.agent_listen_port}",
            f"--num-cpus={self.num_cpus}", "--include-dashboard=true",
            f"--temp-dir={self.temp_dir}", "--disable-usage-stats",
        ]

    def start(self) -> LocalHead:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        # Token authentication with a token of this head only (not the user's ~/.ray/auth_token).
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", **self.client_env())
        with open(self.log_path, "ab") as log:
            # A new session = a new process group holding the head and every process it spawns.
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ray head exited with code {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"{self.dashboard_url}/api/gcs_healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"ray head not ready after {self.start_timeout:.0f}s; see {self.log_path}")

    def stop(self, grace: float = 3.0) -> None:
        """Terminate the head's process group (SIGTERM, then SIGKILL after `grace` seconds)."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.process = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(pgid):  # orphans are reaped by init
            time.sleep(0.2)
        if self._remove_temp_dir:
            for _ in range(3):  # a dying process may still add a log file while we delete
                shutil.rmtree(self.temp_dir, ignore_errors=True)
                if not self.temp_dir.exists():
                    break
                time.sleep(0.5)

    def __enter__(self) -> LocalHead:  # noqa: PYI034 (py3.10 has no typing.Self)
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
