"""Photo pipeline cost: CPU per photo of each step intake and the derivative
worker take, on the benchmark's ~330 KB phone photo, in this process.

    python scripts/bench_photo.py                 # 200 rounds
    python scripts/bench_photo.py --rounds 500 --photo path/to/photo.jpg

Steps, as the service runs them:
- intake (on the request path): ``photos.check`` with ``keep_image=False`` —
  sniff, limits, the whole compressed stream decoded at the smallest scale the
  format allows (so truncation is caught), EXIF (GPS, time, orientation) —
  and the SHA-256 content key;
- derivative worker (after the answer): the full decode at working size and
  the display and thumbnail JPEGs (``images.make_derivatives``).

These are CPU a photo costs whatever the rest of the service does; the intake
benchmark's bare pipeline (multipart → store → one INSERT) does none of them.
Next to its CPU a request (``bench_intake.py`` or ``python -m scripts.bench``
prints it), they bound the intake ratio: at most bare ÷ (bare + photo work).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings
from app.photos import images
from app.photos import service as photos


def cpu_ms(fn: Callable[[], object], rounds: int) -> dict[str, float]:
    """CPU milliseconds a call (this thread): median and best of ``rounds``, after one warm-up."""
    fn()
    samples = []
    for _ in range(rounds):
        t0 = time.thread_time()
        fn()
        samples.append((time.thread_time() - t0) * 1000)
    return {"median_ms": round(statistics.median(samples), 3), "best_ms": round(min(samples), 3)}


def measure(data: bytes, rounds: int) -> dict[str, Any]:
    settings = Settings()
    facts = images.inspect(
        data, max_bytes=settings.max_photo_bytes, max_pixels=settings.max_photo_pixels
    )

    def worker_decode() -> None:
        images.inspect(
            data,
            max_bytes=settings.max_photo_bytes,
            max_pixels=settings.max_photo_pixels,
            min_side=1,
        ).image.close()

    steps = {
        "intake: check (decode at least scale, EXIF)": lambda: photos.check(
            data, settings, keep_image=False
        ),
        "intake: SHA-256 content key": lambda: images.content_key(data),
        "worker: decode at working size": worker_decode,
        "worker: display + thumbnail JPEGs": lambda: images.make_derivatives(facts.image),
    }
    out = {name: cpu_ms(fn, rounds) for name, fn in steps.items()}
    intake = sum(v["median_ms"] for k, v in out.items() if k.startswith("intake"))
    worker = sum(v["median_ms"] for k, v in out.items() if k.startswith("worker"))
    return {
        "photo_bytes": len(data),
        "pixels": f"{facts.width}×{facts.height}",
        "steps": out,
        "intake_ms": round(intake, 3),
        "worker_ms": round(worker, 3),
        "total_ms": round(intake + worker, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--photo", type=Path, help="default: the benchmarks' report photo")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if args.photo:
        data = args.photo.read_bytes()
    else:
        from scripts.bench.mix import report_photo

        data = report_photo()
    result = measure(data, args.rounds)
    print(
        f"photo: {result['photo_bytes']:,} bytes, {result['pixels']} px; "
        f"CPU a photo, median (best) of {args.rounds}:"
    )
    for name, v in result["steps"].items():
        print(f"  {name:48} {v['median_ms']:7.2f} ms  ({v['best_ms']:.2f})")
    print(
        f"  {'intake, on the request path':48} {result['intake_ms']:7.2f} ms\n"
        f"  {'derivative worker, after the answer':48} {result['worker_ms']:7.2f} ms\n"
        f"  {'every photo, in all':48} {result['total_ms']:7.2f} ms"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
