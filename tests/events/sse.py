"""Read a Server-Sent Events stream in a thread, frame by frame."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    id: int | None = None
    event: str | None = None
    data: Any = None
    comments: list[str] = field(default_factory=list)
    retry: int | None = None


def parse(block: str) -> Frame:
    frame = Frame()
    for line in block.split("\n"):
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "":
            frame.comments.append(value)
        elif name == "id":
            frame.id = int(value)
        elif name == "event":
            frame.event = value
        elif name == "data":
            frame.data = json.loads(value)
        elif name == "retry":
            frame.retry = int(value)
    return frame


class StreamReader:
    """``client.stream("GET", url)`` in a daemon thread; frames land in a queue.

    ``stop()`` makes the thread leave the stream at the next frame (heartbeats
    keep coming), which disconnects like a client that goes away.
    """

    def __init__(self, client: Any, headers: dict[str, str], **params: Any) -> None:
        self.client = client
        self.headers = headers
        self.params = params
        self.frames: queue.Queue[Frame] = queue.Queue()
        self.connected = threading.Event()
        self.ended = threading.Event()  # the server closed the stream
        self.status: int | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> StreamReader:
        self._thread.start()
        assert self.connected.wait(10), f"stream did not connect (status {self.status})"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "stream reader did not stop"

    def _run(self) -> None:
        try:
            with self.client.stream(
                "GET", "/v1/events/stream", headers=self.headers, params=self.params
            ) as r:
                self.status = r.status_code
                if r.status_code != 200:
                    r.read()
                    self.connected.set()
                    return
                assert r.headers["content-type"].startswith("text/event-stream")
                buf = ""
                for chunk in r.iter_text():
                    buf += chunk
                    while "\n\n" in buf:
                        block, buf = buf.split("\n\n", 1)
                        frame = parse(block)
                        if frame.retry is not None or any(
                            c.startswith("resuming") for c in frame.comments
                        ):
                            self.connected.set()
                        self.frames.put(frame)
                    if self._stop.is_set():
                        return
                self.ended.set()
        except (httpx.HTTPError, RuntimeError) as exc:  # pragma: no cover - reported by tests
            self.error = exc
        finally:
            self.connected.set()

    def events(self, n: int, timeout: float = 10) -> list[Frame]:
        """The next ``n`` event frames (comments skipped)."""
        out: list[Frame] = []
        end = time.monotonic() + timeout
        while len(out) < n:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(out)} of {n} events: {out}")
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                continue
            if frame.event is not None:
                out.append(frame)
        return out

    def no_events_for(self, seconds: float) -> list[str]:
        """Assert no event arrives within ``seconds``; return the comments seen."""
        comments: list[str] = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                frame = self.frames.get(timeout=left)
            except queue.Empty:
                break
            assert frame.event is None, f"unexpected event {frame}"
            comments += frame.comments
        return comments
