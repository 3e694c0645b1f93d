"""Lazy access to Ray: a clear error when it is missing, and a session that cleans up after itself.

Ray is an optional extra (``pip install 'synerec[ray]'``); nothing in :mod:`synerec` imports it at
module level, so ``import synerec`` and every single-node path work without it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from synerec.exceptions import ConfigError, SynerecError

__all__ = ["RayUnavailableError", "cluster_gpus", "ray_session", "require_ray"]

log = logging.getLogger(__name__)


class RayUnavailableError(SynerecError):
    """Ray is not installed, or the cluster at the given address cannot be reached."""


def require_ray() -> Any:
    """The ``ray`` module, imported now.

    Raises
    ------
    RayUnavailableError
        When Ray is not installed, with the command that installs it.
    """
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("the Ray engine needs Ray: pip install 'synerec[ray]' "
                                  "(or use engine='local')") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[Any]:
    """Use the Ray runtime already started in this process, or start (and later stop) one.

    Parameters
    ----------
    address
        ``None``: a Ray runtime already initialised here, else a new local one.
        ``"auto"``: the cluster this machine belongs to. ``"ray://host:10001"``: a remote
        cluster through Ray Client.
    num_cpus
        CPUs of a *new local* runtime (``None``: all of them); ignored otherwise.

    Yields
    ------
    module
        ``ray``, initialised.

    Raises
    ------
    RayUnavailableError
        Ray is missing or the cluster cannot be reached.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if address is not None and not isinstance(address, str):
        raise ConfigError(f"address must be a string such as 'ray://host:10001', got {address!r}")
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": logging.WARNING}
    if address is None:
        kwargs["num_cpus"] = num_cpus
    try:
        ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailableError(f"cannot connect to the Ray cluster at {address!r}: {exc}") \
            from exc
    log.info("started Ray (%s): %s", address or "local", ray.cluster_resources())
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_gpus(ray: Any) -> float:
    """Number of GPUs the running Ray cluster offers (0 when none)."""
    return float(ray.cluster_resources().get("GPU", 0.0))
