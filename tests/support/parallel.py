"""Tests that cut the whole network namespace's loopback (iptables) run alone when the suite runs
in parallel (pytest-xdist): every other test holds a shared lock while it runs, a test marked
``network_fault`` holds it exclusively. A gate lock in front gives the exclusive one priority,
so a busy worker cannot starve it. Without xdist there is nothing to share: no locking."""
from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pytest


def _lock_paths(config: pytest.Config) -> tuple[Path, Path] | None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    run = workerinput["testrunuid"]  # the same in every worker of one run
    base = Path(tempfile.gettempdir())
    return base / f"candor-tests-{run}.gate", base / f"candor-tests-{run}.net"


@pytest.fixture(autouse=True)
def exclusive_network(request: pytest.FixtureRequest) -> Iterator[None]:
    paths = _lock_paths(request.config)
    if paths is None:
        yield
        return
    exclusive = request.node.get_closest_marker("network_fault") is not None
    gate_fd = os.open(paths[0], os.O_RDWR | os.O_CREAT, 0o600)
    net_fd = os.open(paths[1], os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(gate_fd, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(net_fd, fcntl.LOCK_EX)  # the gate stays held: no new test starts meanwhile
        else:
            fcntl.flock(net_fd, fcntl.LOCK_SH)
            fcntl.flock(gate_fd, fcntl.LOCK_UN)
        yield
    finally:
        os.close(net_fd)  # closing releases the locks
        os.close(gate_fd)
