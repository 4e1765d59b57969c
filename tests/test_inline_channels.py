"""An inline program's channels cannot inherit a dead run's failed connections (tests/inline_channels.py).

The SDK's own Settings opens the channels, as every inline `up` of tests/engine.py and
tests/stack_engine.py does: a channel to a port where nothing listens fails and stays alive
(a killed run's program holds its channels), then a monitor starts on that port and a new
program's channel to it must work at its first call.
"""
from __future__ import annotations

import socket
from concurrent import futures

import grpc
from pulumi.runtime.proto import resource_pb2, resource_pb2_grpc
from pulumi.runtime.settings import Settings

import tests.engine  # noqa: F401  the harness every inline program runs through


class Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    def SupportsFeature(self, request, context):
        return resource_pb2.SupportsFeatureResponse(hasSupport=True)


def supports(settings: Settings) -> bool:
    return settings.monitor.SupportsFeature(resource_pb2.SupportsFeatureRequest(id="secrets"), timeout=5).hasSupport


def unused_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def test_a_monitor_on_a_dead_runs_port_answers_the_next_programs_first_call():
    address = unused_address()
    dead_run = Settings(project="p", stack="s", monitor=address)
    for _ in range(2):
        try:
            supports(dead_run)
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(Monitor(), server)
    server.add_insecure_port(address)
    server.start()
    try:
        assert supports(Settings(project="p", stack="s", monitor=address))
    finally:
        server.stop(grace=0)
        del dead_run
