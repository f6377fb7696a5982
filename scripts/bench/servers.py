"""Start and stop the servers a benchmark measures, on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
# Worker health-check timeout for benchmark servers (see gridfix_server).
HEALTHCHECK_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(Path(env.get("GRIDFIX_DATA_DIR", "/tmp")) / f"{name}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log.name}")
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{self.name} not ready after {timeout} s")

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [int(p) for p in out] or [self.proc.pid]

    def workers(self) -> list[int]:
        """The server's worker processes, without multiprocessing's resource tracker."""
        pids = []
        for pid in self.worker_pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"resource_tracker" not in cmd:
                pids.append(pid)
        return pids

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


def _status_mb(pid: int, field: str) -> float:
    """A memory field of /proc/PID/status (kB there), in MiB; NaN once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a process (VmHWM), in MiB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    """Current resident memory of a process (VmRSS), in MiB."""
    return _status_mb(pid, "VmRSS")


def gridfix_server(
    env: dict[str, str],
    *,
    workers: int = 2,
    port: int | None = None,
    healthcheck_s: int | None = None,
) -> Server:
    """gridfix under uvicorn; give ``port`` when the settings must name it (e.g. the
    public base URL that the local store's signed upload URLs point at).

    ``healthcheck_s`` runs uvicorn directly (the same factory and options as
    ``gridfix serve``, on a database already migrated) with that worker health-check
    timeout: uvicorn's default of 5 s kills and restarts workers that answer late,
    which happens on a loaded machine, and a benchmark must not measure restarts."""
    port = port or free_port()
    if healthcheck_s is not None:
        argv = _uvicorn(
            "app.main:create_app",
            port,
            workers,
            "--proxy-headers",
            "--timeout-graceful-shutdown",
            "30",
            "--timeout-worker-healthcheck",
            str(healthcheck_s),
        )
        return Server("gridfix", argv, env, port)
    argv = [
        sys.executable,
        "-m",
        "app.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    return Server("gridfix", argv, env, port)


def bare_server(
    env: dict[str, str], *, workers: int = 2, healthcheck_s: int | None = None
) -> Server:
    port = free_port()
    extra = ["--timeout-worker-healthcheck", str(healthcheck_s)] if healthcheck_s else []
    argv = _uvicorn("scripts.bench.bare_app:create", port, workers, "--log-level", "warning")
    argv += extra
    return Server("bare", argv, env, port)


def _uvicorn(factory: str, port: int, workers: int, *options: str) -> list[str]:
    """uvicorn serving ``factory`` on loopback, without an access log."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        *options,
    ]
