"""The realistic workload: riders, officers, dashboards and Open311 readers.

Runs in its own process (``drive`` is the entry point, through a spawn pool), so
the load generator never shares a GIL with the service. Every request is timed
under its own operation name, and every acknowledged write is counted in a
ledger, so a soak can check the database against what the service promised.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from scripts.bench import load
from scripts.bench.stage import NO_EVIDENCE, People, data_dir

# Task weights of the mixed phase (a task may send several requests).
WEIGHTS = {
    "rider_multipart": 20,
    "rider_direct": 10,
    "officer": 30,
    "dashboard": 25,
    "open311": 15,
}
RIDER_CATEGORIES = ("road_damage", "waterlogging", "street_light_out", "fallen_tree", "other")
QUEUE = "/v1/tickets?status=new,accepted,in_progress&sort=priority&limit=50"
# Which ceiling an operation is compared with (names in ceilings.py).
CEILING = {
    "report multipart": "bare upload",
    "report upload_ids": "bare upload",
    "upload slot": "tiny JSON",
    "upload PUT": "storage PUT",
    "officer queue": "tiny JSON",
    "officer accept": "tiny JSON",
    "officer accept, return=minimal": "tiny JSON",
    "officer start": "tiny JSON",
    "officer resolve": "tiny JSON",
    "stats summary": "tiny JSON",
    "stats offices": "tiny JSON",
    "stats summary computed": "tiny JSON",
    "stats offices computed": "tiny JSON",
    "stats poll 304": "tiny JSON",
    "open311 requests": "tiny JSON",
    "open311 request": "tiny JSON",
}
OK = (200, 201)
RACES = (409, 412)  # two officers on one ticket: one wins, the other is told


def report_photo() -> bytes:
    """A real ~330 KB phone JPEG when the shared data is present, else a synthetic one."""
    real = data_dir() / "photos" / "gps_iphone4_rome.jpg"
    if real.is_file():
        return real.read_bytes()
    from tests.support.photos import jpeg

    return jpeg(size=(1296, 968), seed=1, quality=97)


def unique(base: bytes) -> bytes:
    # Bytes after the JPEG end marker change the hash (no dedupe), not the picture.
    return base + f"gridfix-bench-{uuid.uuid4().hex}".encode()


class Ledger:
    """Writes the service acknowledged, by kind (thread-safe)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, **kinds: int) -> None:
        with self._lock:
            for k, v in kinds.items():
                self.counts[k] = self.counts.get(k, 0) + v


class Workload:
    def __init__(self, people: People, spec: dict[str, Any]) -> None:
        from tests.support.photos import jpeg

        self.p = people
        self.spec = spec
        self.photo = report_photo()
        self.after_photo = jpeg(size=(800, 600), seed=2)
        self.ledger = Ledger()
        self.etags: dict[str, str] = {}
        self.codes = sorted(people.officers)
        self.accept_pool: list[tuple[int, int, str]] = spec.get("accept_pool", [])
        self.minimal_pool: list[tuple[int, int, str]] = spec.get("minimal_pool", [])

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # --- riders ---

    def _report_fields(self, rng: random.Random) -> dict[str, str]:
        lat, lon, _ = rng.choice(self.p.points)
        return {
            "category": rng.choice(RIDER_CATEGORIES),
            "lat": f"{lat + rng.uniform(-2e-5, 2e-5):.7f}",
            "lon": f"{lon + rng.uniform(-2e-5, 2e-5):.7f}",
            "accuracy_m": "8",
            "description": "hazard seen on the delivery route",
        }

    def rider_multipart(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        rng = random.Random(n)
        headers = self.bearer(rng.choice(self.p.riders)) | {"Idempotency-Key": str(uuid.uuid4())}
        data, photo = self._report_fields(rng), unique(self.photo)

        def send() -> httpx.Response:
            files = {"photos": ("hazard.jpg", photo, "image/jpeg")}
            return c.post("/v1/reports", data=data, files=files, headers=headers)

        r = rec.timed("report multipart", send)
        if r is not None and r.status_code == 201:
            self.ledger.add(reports=1, photos=1, created=1)

    def rider_direct(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        rng = random.Random(n)
        auth = self.bearer(rng.choice(self.p.riders))
        photo = unique(self.photo)
        body = {"content_type": "image/jpeg", "size_bytes": len(photo)}
        r = rec.timed(
            "upload slot",
            lambda: c.post(
                "/v1/uploads", json=body, headers=auth | {"Idempotency-Key": str(uuid.uuid4())}
            ),
        )
        if r is None or r.status_code != 201:
            return
        self.ledger.add(uploads=1)
        slot = r.json()
        put = rec.timed(
            "upload PUT",
            lambda: c.request(slot["method"], slot["url"], content=photo, headers=slot["headers"]),
            ok=(200, 201, 204),
        )
        if put is None or put.status_code not in (200, 201, 204):
            return
        data = self._report_fields(rng) | {"upload_ids": slot["upload_id"]}
        headers = auth | {"Idempotency-Key": str(uuid.uuid4())}
        r = rec.timed(
            "report upload_ids",
            # httpx sends multipart only with files; the API takes form fields either way.
            lambda: c.post("/v1/reports", data=data, headers=headers),
        )
        if r is not None and r.status_code == 201:
            self.ledger.add(reports=1, photos=1, created=1, uploads_used=1)

    # --- officers ---

    def officer(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        rng = random.Random(n)
        code = rng.choice(self.codes)
        auth = self.bearer(self.p.officers[code])
        r = rec.timed("officer queue", lambda: c.get(QUEUE, headers=auth))
        if r is None or r.status_code != 200:
            return
        items = [
            t
            for t in r.json()["items"]
            if {"accept", "start", "resolve"} & set(t["allowed_actions"])
        ]
        if items:
            self.act(c, rec, rng.choice(items), auth)

    def act(
        self,
        c: httpx.Client,
        rec: load.Recorder,
        t: dict[str, Any],
        auth: dict[str, str],
        *,
        minimal: bool = False,
    ) -> None:
        """The ticket's next action; ``minimal`` asks for 204 and the ETag only
        (``Prefer: return=minimal``), timed under its own name."""
        allowed = t["allowed_actions"]
        action = next(a for a in ("accept", "start", "resolve") if a in allowed)
        headers = auth | {"If-Match": t["etag"]}
        if minimal:
            headers["Prefer"] = "return=minimal"
        url = f"/v1/tickets/{t['id']}/{action}"
        photo = action == "resolve" and t["category"] not in NO_EVIDENCE
        form: dict[str, str] = {"resolution": "fixed", "note": "cleared on site"}
        files = None
        if photo:
            # No GPS in the after photo: its place and time are given, as the app does.
            form |= {
                "lat": str(t["lat"]),
                "lon": str(t["lon"]),
                "captured_at": datetime.now(UTC).isoformat(),
            }
            files = {"photos": ("after.jpg", unique(self.after_photo), "image/jpeg")}

        def send() -> httpx.Response:
            if action != "resolve":
                return c.post(url, headers=headers, json={})
            return c.post(url, headers=headers, data=form, files=files)

        name = f"officer {action}" + (", return=minimal" if minimal else "")
        r = rec.timed(name, send, ok=(204,) if minimal else OK, race=RACES)
        if r is not None and r.status_code in (200, 204):
            kind = {"accept": "accepted", "start": "started", "resolve": "resolved"}[action]
            self.ledger.add(**{kind: 1})
            if action == "resolve" and photo:
                self.ledger.add(photos=1, after_photos=1)

    def officer_accept(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        """Accept a different seeded ticket each time (its version known in advance)."""
        self._accept(c, n, rec, self.accept_pool, minimal=False)

    def officer_accept_minimal(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        """The same with ``Prefer: return=minimal``, on tickets of its own pool."""
        self._accept(c, n, rec, self.minimal_pool, minimal=True)

    def _accept(
        self,
        c: httpx.Client,
        n: int,
        rec: load.Recorder,
        pool: list[tuple[int, int, str]],
        *,
        minimal: bool,
    ) -> None:
        tid, version, code = pool[n % len(pool)]
        t = {"id": tid, "etag": f'"t{tid}-v{version}"', "allowed_actions": ["accept"]}
        t["category"] = "other"
        self.act(c, rec, t, self.bearer(self.p.officers[code]), minimal=minimal)

    # --- dashboards and partners ---

    def _poll(self, c: httpx.Client, rec: load.Recorder, name: str, path: str) -> None:
        headers = self.bearer(self.p.viewer)
        if etag := self.etags.get(path):
            headers["If-None-Match"] = etag
        r = rec.timed(name, lambda: c.get(path, headers=headers), ok=(200, 304))
        if r is not None and r.status_code == 200:
            self.etags[path] = r.headers.get("etag", "")

    def dashboard(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        if n % 2:
            self._poll(c, rec, "stats summary", "/v1/stats/summary")
        else:
            self._poll(c, rec, "stats offices", "/v1/stats/offices")

    def stats_fresh(self, name: str, path: str) -> load.Task:
        """A full answer every time: no If-None-Match, and a varying parameter (so a
        new ETag). The server answers it from its answer cache while the data
        version holds; a server started with ``GRIDFIX_STATS_CACHE_ITEMS=0``
        computes it from the rollups every time (the ``… computed`` rows)."""

        def task(c: httpx.Client, n: int, rec: load.Recorder) -> None:
            headers = self.bearer(self.p.viewer)
            rec.timed(name, lambda: c.get(path, params={"_": n}, headers=headers))

        return task

    def stats_poll(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        self._poll(c, rec, "stats poll 304", "/v1/stats/summary")

    def open311(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        r = rec.timed("open311 requests", lambda: c.get("/open311/v2/requests.json?page_size=50"))
        if r is not None and r.status_code == 200 and r.json():
            rid = r.json()[n % len(r.json())]["service_request_id"]
            rec.timed("open311 request", lambda: c.get(f"/open311/v2/requests/{rid}.json"))

    def officer_queue(self, c: httpx.Client, n: int, rec: load.Recorder) -> None:
        auth = self.bearer(self.p.officers[self.codes[n % len(self.codes)]])
        rec.timed("officer queue", lambda: c.get(QUEUE, headers=auth))

    def tasks(self, ops: str) -> Callable[[int], load.Task]:
        """``mix`` (weighted) or one operation alone."""
        if ops == "mix":
            names = [k for k, w in WEIGHTS.items() for _ in range(w)]
            order = names[:]
            random.Random(1).shuffle(order)
            return lambda n: getattr(self, order[n % len(order)])
        single: dict[str, load.Task] = {
            "report multipart": self.rider_multipart,
            "report direct-upload": self.rider_direct,
            "officer queue": self.officer_queue,
            "officer accept": self.officer_accept,
            "officer accept, return=minimal": self.officer_accept_minimal,
            "stats summary": self.stats_fresh("stats summary", "/v1/stats/summary"),
            "stats offices": self.stats_fresh("stats offices", "/v1/stats/offices"),
            "stats summary computed": self.stats_fresh(
                "stats summary computed", "/v1/stats/summary"
            ),
            "stats offices computed": self.stats_fresh(
                "stats offices computed", "/v1/stats/offices"
            ),
            "stats poll 304": self.stats_poll,
            "open311 requests": self.open311,
        }
        task = single[ops]
        return lambda n: task


# Also run by a single client, for latency without queueing for the cores.
LATENCY_OPS = ("officer queue", "officer accept", "stats poll 304")
ONE_CLIENT = ", 1 client"
# Run against a server whose answer cache is off (GRIDFIX_STATS_CACHE_ITEMS=0).
COMPUTED_OPS = ("stats summary computed", "stats offices computed")
SINGLE_OPS = (
    "report multipart",
    "report direct-upload",
    "officer queue",
    "officer accept",
    "officer accept, return=minimal",
    "stats summary",
    "stats offices",
    "stats poll 304",
    "open311 requests",
)


def drive(
    people: People, spec: dict[str, Any], on_start: Callable[[], Any] | None = None
) -> dict[str, Any]:
    """Entry point in the load process. ``spec``: url, ops, mode (closed|open),
    concurrency, duration, warmup, rate, accept_pool, minimal_pool. ``on_start`` is called when
    the first request is about to go (after imports and photo loading)."""
    w = Workload(people, spec)
    tasks = w.tasks(spec["ops"])
    skipped = 0
    if on_start is not None:
        on_start()
    if spec.get("mode", "closed") == "closed":
        rec = load.run_closed(
            tasks,
            spec["url"],
            concurrency=spec["concurrency"],
            duration_s=spec["duration"],
            warmup_s=spec.get("warmup", 2.0),
        )
    else:
        rec, skipped = load.run_open(
            tasks,
            spec["url"],
            rate=spec["rate"],
            duration_s=spec["duration"],
            max_in_flight=spec.get("max_in_flight", 64),
        )
    return {
        "rows": rec.rows(spec["duration"]),
        "ledger": w.ledger.counts,
        "skipped": skipped,
    }


def drive_in_process(people: People, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``drive`` in a fresh spawned process and wait for its answer."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(drive, (people, spec))
