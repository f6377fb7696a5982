"""The benchmark's CPU accounting: per process group, per request."""

from __future__ import annotations

import os
import sys
import time

import pytest

from scripts.bench import cpu


def test_between_sums_groups_and_counts_new_processes_from_zero() -> None:
    before = {1: ("service", 10.0), 2: ("postgres", 5.0), 3: ("load", 1.0)}
    after = {
        1: ("service", 12.5),
        2: ("postgres", 5.5),
        3: ("load", 1.25),
        4: ("postgres", 0.25),  # a backend that started in between
    }
    got = cpu.Sampler.between(before, after)
    assert got == {"service": 2.5, "postgres": 0.75, "storage": 0.0, "load": 0.25, "other": 0.0}


def test_per_request_ms_divides_each_group_and_the_total() -> None:
    cost = cpu.per_request_ms({"service": 2.0, "postgres": 1.0, "load": 0.5}, 1000)
    assert cost == {
        "service": 2.0,
        "postgres": 1.0,
        "storage": 0.0,
        "load": 0.5,
        "other": 0.0,
        "total": 3.5,
    }
    assert cpu.per_request_ms({"service": 1.0}, 0) is None
    assert cpu.describe(cost).endswith("total 3.50") and cpu.describe(None) == "—"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_snapshot_sees_the_calling_process_burn_cpu_as_load() -> None:
    sampler = cpu.Sampler()
    before = sampler.snapshot()
    assert before[os.getpid()][0] == "load"
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    spent = cpu.Sampler.between(before, sampler.snapshot())
    assert 0.2 <= spent["load"] <= 2.0
