"""Every gRPC channel this process opens keeps its own connections (a local subchannel pool).

Why: an Automation API inline program runs inside the test process, and the SDK opens its
channels to the engine and the resource monitor with `grpc.insecure_channel`. gRPC shares a
subchannel between channels to the same address, and a subchannel that failed to connect
stays in reconnect backoff. A run whose CLI died (tests/test_engine_program.py kills one
half-way) leaves its program's channels alive, failing, in the process; when a later CLI's
monitor happens to listen on a port the dead one had, the new program's first calls fail at
once with UNAVAILABLE ("Resource monitor has terminated, shutting down"), a flake that
depends only on which port the kernel hands out. A CLI process of its own, as a real
`pulumi up` runs the program, never has that past; this gives each channel the same.
"""
from __future__ import annotations

import functools
from typing import Any

import grpc

LOCAL_POOL = ("grpc.use_local_subchannel_pool", 1)


def own_subchannels() -> None:
    """Wrap `grpc.insecure_channel` so each new channel asks for its own subchannel pool (idempotent)."""
    opened = grpc.insecure_channel
    if getattr(opened, "own_subchannels", False):
        return

    @functools.wraps(opened)
    def insecure_channel(target: str, options: Any = None, *args: Any, **kwargs: Any) -> grpc.Channel:
        return opened(target, [*(options or ()), LOCAL_POOL], *args, **kwargs)

    insecure_channel.own_subchannels = True  # type: ignore[attr-defined]
    grpc.insecure_channel = insecure_channel
