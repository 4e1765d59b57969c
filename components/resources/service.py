"""How one upstream service becomes a pinned image and a container on the stack network.

Not a component: the components (Postgres, SupabaseServices, Addons, Gateway) call
`declare` for each of their services, so every container is built the same way:
pinned image, `restart: unless-stopped`, the compose service name as network alias, and
an env list that is a secret Output as soon as one value in it is secret.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_docker as docker

from components.core.images import image as pinned_image

RESTART = "unless-stopped"


@dataclass(frozen=True)
class Healthcheck:
    """Docker healthcheck, in compose's terms."""

    tests: Sequence[pulumi.Input[str]]
    interval: str = "5s"
    timeout: str = "5s"
    retries: int = 3
    start_period: Optional[str] = None

    def args(self) -> docker.ContainerHealthcheckArgs:
        return docker.ContainerHealthcheckArgs(
            tests=list(self.tests), interval=self.interval, timeout=self.timeout,
            retries=self.retries, start_period=self.start_period)


@dataclass(frozen=True)
class Mount:
    """A named Docker volume (or, for the Docker socket only, a host path) in the container."""

    path: str
    volume: Optional[pulumi.Input[str]] = None
    host_path: Optional[str] = None
    read_only: bool = False

    def args(self) -> docker.ContainerVolumeArgs:
        return docker.ContainerVolumeArgs(
            container_path=self.path, volume_name=self.volume, host_path=self.host_path,
            read_only=self.read_only or None)


@dataclass(frozen=True)
class ServiceSpec:
    """One compose service. `name` is the compose service name: network alias and image key."""

    name: str
    network_name: pulumi.Input[str]
    # Other networks it joins under the same aliases: Postgres and Kong are also on the
    # project GoTrues' network (components/resources/network.py).
    extra_networks: Sequence[pulumi.Input[str]] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    image_key: Optional[str] = None
    # An image already at hand (another service's pinned image, or one built here: components/resources/backup.py):
    # no RemoteImage of its own.
    image_id: Optional[pulumi.Input[str]] = None
    aliases: Sequence[str] = ()
    healthcheck: Optional[Healthcheck] = None
    ports: Sequence[docker.ContainerPortArgs] = ()
    mounts: Sequence[Mount] = ()
    uploads: Sequence[docker.ContainerUploadArgs] = ()
    command: Optional[Sequence[str]] = None
    entrypoint: Optional[Sequence[str]] = None
    security_opts: Sequence[str] = ()
    wait: bool = False


def container_name(service: str) -> str:
    """Host-wide unique: two stacks may share one Docker host."""
    return f"supabase-{pulumi.get_stack()}-{service}"


def env_list(plain: Mapping[str, str], secret: Mapping[str, pulumi.Input[str]]) -> pulumi.Input[list[str]]:
    """`NAME=value` lines; the whole list is a secret Output if any value is secret."""
    lines = [f"{k}={v}" for k, v in plain.items()]
    if not secret:
        return lines
    names = list(secret)
    return pulumi.Output.secret(pulumi.Output.all(*secret.values()).apply(
        lambda values: lines + [f"{k}={v}" for k, v in zip(names, values)]))


def publish(internal: int, external: int, ip: str) -> docker.ContainerPortArgs:
    return docker.ContainerPortArgs(internal=internal, external=external, ip=ip, protocol="tcp")


def named_volume(resource_name: str, suffix: str, opts: pulumi.ResourceOptions, *, keep: bool) -> docker.Volume:
    """Volume `supabase-<stack>-<suffix>`; `keep` protects data so `pulumi destroy` cannot drop it by accident."""
    extra = pulumi.ResourceOptions(protect=True) if keep else None
    return docker.Volume(resource_name, name=container_name(suffix),
                         opts=pulumi.ResourceOptions.merge(opts, extra) if extra else opts)


def declare(spec: ServiceSpec, opts: pulumi.ResourceOptions) -> docker.Container:
    """The pinned image and the container of one service (resources `<name>-image`, `<name>`);
    with `spec.image_id`, the container only."""
    image_id = spec.image_id
    if image_id is None:
        image_id = docker.RemoteImage(f"{spec.name}-image", name=pinned_image(spec.image_key or spec.name),
                                      keep_locally=True, opts=opts).image_id
    return docker.Container(
        spec.name,
        name=container_name(spec.name),
        image=image_id,
        restart=RESTART,
        envs=env_list(spec.env, spec.secret_env),
        networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=network, aliases=[spec.name, *spec.aliases])
                           for network in (spec.network_name, *spec.extra_networks)],
        healthcheck=spec.healthcheck.args() if spec.healthcheck else None,
        wait=spec.wait or None,
        wait_timeout=300 if spec.wait else None,
        ports=list(spec.ports) or None,
        volumes=[m.args() for m in spec.mounts] or None,
        uploads=list(spec.uploads) or None,
        command=list(spec.command) if spec.command is not None else None,
        entrypoints=list(spec.entrypoint) if spec.entrypoint is not None else None,
        security_opts=list(spec.security_opts) or None,
        # The container name is fixed, so Docker refuses a second one beside it: a replaced
        # container (new image, new env) goes before its successor is created.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )
