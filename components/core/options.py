"""ResourceOptions helpers shared by the components."""
from __future__ import annotations

from typing import Iterable

import pulumi


def after(opts: pulumi.ResourceOptions, resources: Iterable[pulumi.Resource]) -> pulumi.ResourceOptions:
    """`opts` (usually parent=self) plus an explicit ordering on `resources`."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(resources)))
