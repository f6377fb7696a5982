"""Pieces for fault-injection tests: an S3 server that can be killed and brought
back on the same port and data, the real service as a subprocess, request bodies
that arrive slowly, and a view of which server-side connections are in flight.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import httpx
from botocore.config import Config

from tests.support.seaweed import S3Server, free_port

ROOT = Path(__file__).resolve().parents[2]
SENTINEL_BUCKET = "gridfix-sentinel"
T = TypeVar("T")


def poll(what: str, probe: Callable[[], T | None], timeout: float, every: float = 0.1) -> T:
    """Call ``probe`` until it returns something other than None/False; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            got = probe()
            if got is not None and got is not False:
                return got
        except Exception as exc:  # the thing we wait for may fail until it is ready
            last = exc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout} s (last error: {last!r})")
        time.sleep(every)


# ---------------------------------------------------------------- S3 that can die
def s3_client(server: S3Server) -> Any:
    """A plain client for checks made by the test itself (fails fast, never retries)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": 1},
            connect_timeout=1,
            read_timeout=5,
        ),
    )


def write_sentinel(server: S3Server) -> None:
    """An object written before any outage: reading it back proves the data survived."""
    client = s3_client(server)
    client.create_bucket(Bucket=SENTINEL_BUCKET)
    client.put_object(Bucket=SENTINEL_BUCKET, Key="sentinel", Body=b"still here")


def kill_s3(server: S3Server) -> None:
    """Stop the S3 server abruptly, as a crash or a pulled cable would."""
    assert server.process is not None
    server.process.kill()
    server.process.wait(timeout=10)


def restart_s3(server: S3Server, timeout: float = 90.0) -> None:
    """Start the same server again (same ports, same data folder) and wait until the
    data written before the outage reads back and a new write succeeds."""
    assert server.process is not None and server.workdir is not None
    if server.process.poll() is None:
        kill_s3(server)
    args = [str(a) for a in server.process.args]  # type: ignore[union-attr]
    if "-master.resumeState=false" not in args:
        # A lone master that resumes its Raft state waits out an election (~20 s)
        # before it serves; the topology is rebuilt from the volumes either way.
        args.append("-master.resumeState=false")
    with open(server.workdir / "weed.log", "ab") as log:  # the child keeps its own fd
        server.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
    client = s3_client(server)

    def ready() -> bool:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError("weed exited during restart")
        body = client.get_object(Bucket=SENTINEL_BUCKET, Key="sentinel")["Body"].read()
        probe = f"probe-{uuid.uuid4().hex}"
        client.put_object(Bucket=SENTINEL_BUCKET, Key=probe, Body=b"ok")
        client.delete_object(Bucket=SENTINEL_BUCKET, Key=probe)
        return bool(body == b"still here")

    poll("S3 back after restart", ready, timeout, every=0.3)


def bucket_keys(server: S3Server, bucket: str) -> set[str]:
    client = s3_client(server)
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(item["Key"] for item in page.get("Contents", ()))
    return keys


# ---------------------------------------------------------------- the real service
class Service:
    """The API under uvicorn, in its own process group; always ``close()`` it (fixtures do).

    Run as ``gridfix serve`` runs it (factory, graceful shutdown timeout), except
    that a worker gets longer to answer the supervisor's health check: on a busy
    test machine importing the app can take longer than uvicorn's default 5 s.
    """

    def __init__(
        self, env: dict[str, str], log_path: Path, *, workers: int = 1, graceful_s: int = 30
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.graceful_s = graceful_s
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            str(graceful_s),
            "--timeout-worker-healthcheck",
            "60",
        ]
        self.proc = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def wait_ready(self, timeout: float = 120.0) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited ({self.proc.returncode}):\n{self.log_tail()}")
            return httpx.get(self.url + "/readyz", timeout=2).status_code == 200

        poll("service ready", ready, timeout, every=0.2)

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [int(p) for p in out]

    def close(self) -> None:
        """Kill whatever is left of the process group (workers may outlive the
        supervisor) and reap the leader."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(timeout=10)
        self._log.close()


# ---------------------------------------------------------------- slow request bodies
def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type; files are (field, name, bytes)."""
    boundary = f"gridfix-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for field, filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class HeldBody:
    """A request body sent in two halves: the first at once, the second only after
    ``release()`` — so a request is provably in flight while a fault is injected."""

    def __init__(self, body: bytes, hold_timeout: float = 60.0) -> None:
        self.body = body
        self.first_half_sent = threading.Event()
        self._release = threading.Event()
        self._hold_timeout = hold_timeout

    def release(self) -> None:
        self._release.set()

    def __iter__(self) -> Iterator[bytes]:
        half = len(self.body) // 2
        yield self.body[:half]
        self.first_half_sent.set()
        if not self._release.wait(self._hold_timeout):
            raise TimeoutError("the held body was never released")
        for start in range(half, len(self.body), 16 * 1024):
            yield self.body[start : start + 16 * 1024]


# ---------------------------------------------------------------- connections in flight
def _sockets(port: int) -> tuple[int, list[int]]:
    """(accept backlog of the listener on ``port``, unread bytes of each established
    server-side connection), from the kernel's socket tables."""
    backlog = 0
    unread: list[int] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port != port:
                continue
            state = fields[3]
            rx_queue = int(fields[4].split(":")[1], 16)
            if state == "0A":  # LISTEN: rx_queue is the accept backlog
                backlog += rx_queue
            elif state == "01":  # ESTABLISHED
                unread.append(rx_queue)
    return backlog, unread


def wait_in_flight(port: int, count: int, timeout: float = 20.0) -> None:
    """Wait until the server accepted ``count`` connections and read every byte sent
    so far: their requests have reached the application, not just the kernel."""

    def settled() -> bool:
        backlog, unread = _sockets(port)
        return backlog == 0 and len(unread) >= count and not any(unread)

    poll(f"{count} requests in flight on port {port}", settled, timeout, every=0.05)
