"""The stack's private Docker network: services find each other by name, nothing else joins."""
from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_docker as docker


class StackNetwork(pulumi.ComponentResource):
    def __init__(self, name: str, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("supabase-multi-instance:index:StackNetwork", name, None, opts)
        stack = pulumi.get_stack()
        self.network = docker.Network(
            f"{name}-net", name=f"supabase-{stack}", driver="bridge", opts=pulumi.ResourceOptions(parent=self))
        self.name = self.network.name
        self.register_outputs({"name": self.name})
