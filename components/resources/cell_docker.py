"""The Docker daemon a cell's containers run on: one explicit pulumi-docker provider per cell.

Every docker resource of the stack (networks, volumes, images, containers) inherits it from
its component, so a cell's whole stack lands on the host its `cell.dockerHost` names, and
`pulumi preview` shows that host as the provider's input. The dynamic resources that reach a
running container through the docker CLI (Kong's live config, the dashboard pages, a
project's Edge Functions) are given the same address (`docker_host`) and hand it to the CLI.

A stack without `cell` keeps the default provider (DOCKER_HOST or the local socket), as
before: moving existing resources onto an explicit provider would show a provider change on
every one of them.
"""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker

from components.core.config import StackConfig


def cell_options(config: StackConfig) -> pulumi.ResourceOptions:
    """Options every top-level component takes: the cell's docker provider, or nothing."""
    provider = cell_provider(config)
    return pulumi.ResourceOptions(providers=[provider]) if provider is not None else pulumi.ResourceOptions()


def cell_provider(config: StackConfig) -> Optional[docker.Provider]:
    if config.cell is None:
        return None
    # One per stack under a fixed name: a changed dockerHost is an update of this provider,
    # shown in preview; the data volumes are protected (keep=True), so a cell is never
    # silently re-created on another host (docs/cells.md, moving a project).
    return docker.Provider("cell-docker", host=config.docker_host)

