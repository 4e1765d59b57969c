"""`cell`: this stack as one cell of a deployment spread over several Docker hosts.

    cell:
      name: eu1                       # unique in the deployment; names its stack hostnames
      dockerHost: ssh://deploy@10.0.0.11   # where its containers run (pulumi-docker `host`)
      address: 10.0.0.11              # where this machine and the edge reach its published ports
      maxProjects: 25                 # the most projects it takes (docs/cells.md, sizing)

Why cells: one stack's `pulumi up` grows with the square of its resources (the file backend
rewrites the whole checkpoint at every step), and one host's Postgres and memory are finite.
A deployment of many projects is many stacks of this program, each bounded, each on the
Docker host its config names; `python -m cells` drives them together (docs/cells.md).

A stack without `cell` is the single-host stack it always was: the default Docker provider
(DOCKER_HOST or the local socket), its stack hostnames `api.<domain>` and so on, no limit on
projects but the connection budget's.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Optional
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from components.core.config.rules import ConfigModel, is_host

CELL_NAME = re.compile(r"[a-z][a-z0-9]{0,19}")
DOCKER_SCHEMES = ("ssh", "tcp", "unix")
# A project is ~21 resources (README, Performance): 40 projects is a first `up` of ~4 minutes
# and an added project's `up` of ~20 s on the measured machine (bench/cells.py).
DEFAULT_MAX_PROJECTS = 25
MAX_PROJECTS_LIMIT = 200


class CellConfig(ConfigModel):
    name: str
    docker_host: Optional[str] = Field(None, alias="dockerHost")
    address: Optional[str] = None
    max_projects: int = Field(DEFAULT_MAX_PROJECTS, ge=1, le=MAX_PROJECTS_LIMIT, alias="maxProjects")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not CELL_NAME.fullmatch(v):
            raise ValueError("must be 1-20 characters of a-z and 0-9, starting with a letter (it names the cell's "
                             "stack hostnames, e.g. api-eu1.<domain>)")
        return v

    @field_validator("docker_host")
    @classmethod
    def _docker_host(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return None
        parts = urlsplit(v)
        usable = parts.scheme in DOCKER_SCHEMES and (parts.path if parts.scheme == "unix" else parts.hostname)
        if not usable:
            raise ValueError("must be a Docker daemon address as DOCKER_HOST takes it: ssh://user@host (the "
                             "host's docker over SSH), tcp://host:2376 or unix:///var/run/docker.sock")
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: Optional[str]) -> Optional[str]:
        if v is None:
            return None
        host = v.strip().lower()
        if not is_host(host):
            raise ValueError("must be the host name or IP address of the cell's Docker host, as this machine "
                             "and the edge reach it (e.g. 10.0.0.11)")
        return host

    @property
    def remote(self) -> bool:
        """Its containers run on another machine than the one running `pulumi`."""
        return self.docker_host is not None and urlsplit(self.docker_host).scheme != "unix"

    def loopback_only(self, bind_address: str) -> bool:
        """Ports published on the remote host's loopback: unreachable from here and from the edge."""
        return self.remote and ipaddress.ip_address(bind_address).is_loopback
