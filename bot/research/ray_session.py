"""Starting or joining the Ray a walk-forward fans its tasks out on (`--ray`, `--ray-address`).

Why separate: connecting is its own job, with its own failure (`RayUnavailable`, refused
fast and naming the address instead of `ray.init` retrying for minutes), and both the
walk-forward runner (bot/research/walkforward.py) and `entasis league` (bot/cli/league.py)
need it; the runner keeps planning, running and summarizing the tasks.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from model import errors

RAY_CONNECT_TIMEOUT_S = 10.0


class RayUnavailable(errors.ConfigError, ConnectionError):
    """The Ray cluster named by `--ray-address` does not answer; the message names it."""


@dataclass(frozen=True, slots=True)
class RayChoice:
    """Run on Ray: `address` None starts a local Ray here (all CPUs), else joins a cluster."""

    address: str | None = None
    num_cpus: int | None = None
    connect_timeout_s: float = RAY_CONNECT_TIMEOUT_S


def ray_endpoint(address: str) -> tuple[str, int]:
    """(host, port) of a `--ray-address` (`HOST:PORT` or `ray://HOST:PORT`)."""
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailable(f"--ray-address {address!r} is not HOST:PORT (the head node's "
                             "GCS address, e.g. 10.0.0.5:6379, or ray://HOST:10001)")
    return host, int(port)


def check_ray_answers(address: str, timeout_s: float) -> None:
    """Refuse fast, naming the address, when nothing listens there: `ray.init` itself would
    retry for minutes (measured: still waiting after 2 minutes on a closed port)."""
    host, port = ray_endpoint(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise RayUnavailable(
            f"--ray-address {address}: no Ray cluster answers at {host}:{port} within "
            f"{timeout_s:g} s ({reason}); start one there (`ray start --head`), fix the "
            "address, or leave --ray-address out (--ray starts a local Ray)") from None


def connect_ray(choice: RayChoice) -> bool:
    """Make sure Ray is up; True when this call started it (its caller shuts it down).
    An already initialized Ray is used as it is (a test module's shared session)."""
    import ray

    if choice.address is not None:
        check_ray_answers(choice.address, choice.connect_timeout_s)
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if choice.address is None:
        kwargs["num_cpus"] = choice.num_cpus or os.cpu_count() or 1
    else:
        kwargs["address"] = choice.address
    # On the calling thread: a Ray initialized from another thread dies at its first
    # ray.put (measured: the process exits with status 1, no message). A port that accepts
    # TCP but is no Ray head can still keep ray.init waiting; nothing answering is caught
    # above.
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"--ray-address {choice.address}" if choice.address else "a local Ray"
        raise RayUnavailable(f"{where}: Ray failed to start or connect "
                             f"({type(exc).__name__}: {exc})") from exc
    return True
