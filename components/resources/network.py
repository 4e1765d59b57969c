"""The stack's private Docker networks: services find each other by name, nothing else joins.

Two networks. The stack network holds every shared service. The auth network holds the
projects' GoTrue containers, Postgres and Kong only: a project's GoTrue needs its user
pool and is reached by the gateway, nothing more, so a compromised GoTrue (or code run in
one) cannot call PostgREST, Storage, Realtime, Studio or another project's GoTrue
directly. It is not `internal`: GoTrue must still reach SMTP servers and OAuth providers.

The dashboard's nginx joins it to ask each GoTrue's /health, and the usage collector to reach
Postgres (as a role that may run one function); neither holds a key. The edge runtime joins
the auth network too, and only it, because it runs code that each
project's owner wrote: on the auth network everything answers only to a key (Postgres to its
password, each GoTrue to its project's signing key, Kong to the project keys), whereas the
stack network has services that trust their network (pg-meta runs SQL as supabase_admin,
Realtime's tenant API) and must never be one hop from a project's code.
"""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker


class StackNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:StackNetwork", name, None, opts)
        stack = pulumi.get_stack()
        child = pulumi.ResourceOptions(parent=self)
        self.network = docker.Network(f"{name}-net", name=f"supabase-{stack}", driver="bridge", opts=child)
        self.auth_network = docker.Network(f"{name}-auth-net", name=f"supabase-{stack}-auth", driver="bridge",
                                           opts=child)
        self.name = self.network.name
        self.auth_name = self.auth_network.name
        self.register_outputs({"name": self.name, "authName": self.auth_name})
