"""Stand-in for pulumi-resource-docker (pulumi-docker 5.x): a Docker daemon that records, not runs.

No Docker daemon runs here, so containers, images, networks and volumes are records in
`$PULUMI_STANDIN_STATE/docker.json` (tests/providers/state.py), and a container's files
(its uploads, what `docker cp` copies in) live under containers/<name>/. What the Docker API
refuses is refused the same way, so a program that passes here would not fail on a host for
these reasons: unknown input keys and ill-typed values (the pulumi_docker schema,
tests/providers/schema.py), port and mount shapes, a container name already in use (why
components/resources/service.py replaces delete-before-replace), a published host port
already allocated, an image, network or volume that does not exist yet, and removing a
network with containers attached or a volume in use. Inputs that Terraform's docker
provider updates in place (restart, resources, wait) update; any other change replaces, as
ForceNew does there.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import shutil
import uuid
from pathlib import PurePosixPath
from typing import Any, Optional

from tests.providers import state
from tests.providers.server import ProviderError, ResourceType, StandIn, serve

# Docker's own rules: daemon/names.go (validContainerNamePattern), api/types/container restart policies.
NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
RESTART = {"no", "on-failure", "always", "unless-stopped"}
PROTOCOLS = {"tcp", "udp", "sctp"}
DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def _hex(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _port_problems(i: int, port: dict[str, Any]) -> list[str]:
    found = []
    for key in ("internal", "external"):
        value = port.get(key)
        if value is None and key == "external":
            continue
        if not isinstance(value, (int, float)) or not 1 <= value <= 65535 or not float(value).is_integer():
            found.append(f"ports[{i}].{key}: invalid port {value!r} (1-65535)")
    if port.get("protocol", "tcp") not in PROTOCOLS:
        found.append(f"ports[{i}].protocol: {port['protocol']!r} is not one of tcp, udp, sctp")
    if port.get("ip") is not None:
        try:
            ipaddress.ip_address(port["ip"])
        except ValueError:
            found.append(f"ports[{i}].ip: {port['ip']!r} is not an IP address")
    return found


def _mount_problems(i: int, volume: dict[str, Any]) -> list[str]:
    found = []
    path = volume.get("containerPath")
    if not path or not PurePosixPath(path).is_absolute():
        found.append(f"volumes[{i}].containerPath: {path!r} must be an absolute path")
    sources = [k for k in ("volumeName", "hostPath", "fromContainer") if volume.get(k)]
    if len(sources) > 1:
        found.append(f"volumes[{i}]: only one of volumeName, hostPath, fromContainer (got {', '.join(sources)})")
    if volume.get("hostPath") and not PurePosixPath(volume["hostPath"]).is_absolute():
        found.append(f"volumes[{i}].hostPath: {volume['hostPath']!r} must be an absolute path")
    return found


def _upload_problems(i: int, upload: dict[str, Any]) -> list[str]:
    found = []
    if not PurePosixPath(upload.get("file") or "").is_absolute():
        found.append(f"uploads[{i}].file: {upload.get('file')!r} must be an absolute path")
    given = [k for k in ("content", "contentBase64", "source") if upload.get(k) is not None]
    if len(given) != 1:
        found.append(f"uploads[{i}]: exactly one of content, contentBase64, source (got {given or 'none'})")
    return found


class Container(ResourceType):
    UPDATABLE = frozenset({"restart", "cpuShares", "memory", "memorySwap", "cpuSet", "wait", "waitTimeout",
                           "mustRun", "destroyGraceSeconds", "containerReadRefreshTimeoutMilliseconds"})

    def check(self, news: dict[str, Any], olds: dict[str, Any]) -> list[str]:
        found = []
        if not NAME.match(news.get("name") or ""):
            found.append(f"name: invalid container name {news.get('name')!r}; only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        if news.get("restart", "no") not in RESTART:
            found.append(f"restart: {news['restart']!r} is not one of {sorted(RESTART)}")
        for i, port in enumerate(news.get("ports") or []):
            found += _port_problems(i, port)
        for i, volume in enumerate(news.get("volumes") or []):
            found += _mount_problems(i, volume)
        for i, upload in enumerate(news.get("uploads") or []):
            found += _upload_problems(i, upload)
        for i, env in enumerate(news.get("envs") or []):
            if not env.split("=", 1)[0]:
                found.append(f"envs[{i}]: {env!r} has no variable name")
        health = news.get("healthcheck") or {}
        if health and (not health.get("tests") or health["tests"][0] not in ("CMD", "CMD-SHELL", "NONE")):
            found.append("healthcheck.tests: must start with CMD, CMD-SHELL or NONE")
        for key in ("interval", "timeout", "startPeriod"):
            if health.get(key) and not DURATION.match(health[key]):
                found.append(f"healthcheck.{key}: {health[key]!r} is not a duration")
        for i, net in enumerate(news.get("networksAdvanced") or []):
            if not net.get("name"):
                found.append(f"networksAdvanced[{i}].name: required")
        return found

    def create(self, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = inputs["name"].lstrip("/")
        with state.docker_record() as record:
            if name in record["containers"]:
                raise ProviderError(f'Error response from daemon: Conflict. The container name "/{name}" is already '
                                    f'in use by container "{record["containers"][name]["id"]}". You have to remove '
                                    "(or rename) that container to be able to reuse that name.")
            image = inputs["image"]
            if not any(image in (i["id"], i.get("name")) for i in record["images"].values()):
                raise ProviderError(f"Error response from daemon: No such image: {image}")
            for net in inputs.get("networksAdvanced") or []:
                if net["name"] not in record["networks"]:
                    raise ProviderError(f"Error response from daemon: network {net['name']} not found")
            for volume in inputs.get("volumes") or []:
                if volume.get("volumeName") and volume["volumeName"] not in record["volumes"]:
                    # Docker would create an anonymous-driver volume; the program declares each one.
                    raise ProviderError(f"volume {volume['volumeName']} is not declared (docker would create it empty)")
            taken = {(p.get("ip", "0.0.0.0"), p["external"], p.get("protocol", "tcp")): c
                     for c, rec in record["containers"].items() for p in rec["inputs"].get("ports") or []
                     if p.get("external")}
            for p in inputs.get("ports") or []:
                key = (p.get("ip", "0.0.0.0"), p.get("external"), p.get("protocol", "tcp"))
                if p.get("external") and key in taken:
                    raise ProviderError(f"Error response from daemon: driver failed programming external "
                                        f"connectivity on endpoint {name}: Bind for {key[0]}:{int(key[1])} failed: "
                                        f"port is already allocated (by {taken[key]})")
            id_ = _hex("container", name, uuid.uuid4().hex)
            record["containers"][name] = {"id": id_, "inputs": inputs}
        self._materialize(name, inputs)
        networks = [{"networkName": n["name"], "ipAddress": "", "gateway": "", "macAddress": ""}
                    for n in inputs.get("networksAdvanced") or []]
        return id_, {**inputs, "id": id_, "networkData": networks, "exitCode": None}

    @staticmethod
    def _materialize(name: str, inputs: dict[str, Any]) -> None:
        """A new container's filesystem: only its uploads (a replaced container starts empty)."""
        folder = state.container_root(name)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for upload in inputs.get("uploads") or []:
            target = folder / upload["file"].lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            data = (base64.b64decode(upload["contentBase64"]) if upload.get("contentBase64") is not None
                    else upload.get("content", "").encode())
            target.write_bytes(data)

    def read(self, id_: str, st: dict[str, Any], inputs: dict[str, Any]) -> Optional[dict[str, Any]]:
        found = state.read_docker()["containers"].get((st.get("name") or "").lstrip("/"))
        return st if found and found["id"] == id_ else None

    def update(self, id_, st, old_inputs, news):
        with state.docker_record() as record:
            record["containers"][news["name"].lstrip("/")]["inputs"] = news
        return {**st, **news}

    def delete(self, id_: str, st: dict[str, Any]) -> None:
        name = (st.get("name") or "").lstrip("/")
        with state.docker_record() as record:
            if record["containers"].get(name, {}).get("id") == id_:
                del record["containers"][name]
        shutil.rmtree(state.container_root(name), ignore_errors=True)


class RemoteImage(ResourceType):
    UPDATABLE = frozenset({"keepLocally", "forceRemove"})

    def create(self, inputs):
        name = inputs["name"]
        if "@" not in name and ":" not in name.rsplit("/", 1)[-1]:
            raise ProviderError(f"image {name!r} has no tag: the program pins every image")
        id_ = f"sha256:{_hex('image', name)}"
        repo = name.split("@")[0].rsplit(":", 1)[0] if "@" not in name else name.split("@")[0]
        with state.docker_record() as record:
            record["images"][id_] = {"id": id_, "name": name}
        return f"{id_}{name}", {**inputs, "imageId": id_, "repoDigest": f"{repo}@sha256:{_hex('digest', name)}"}

    def read(self, id_, st, inputs):
        return st if st.get("imageId") in state.read_docker()["images"] else None

    def delete(self, id_, st):
        if st.get("keepLocally"):
            return
        with state.docker_record() as record:
            in_use = [c for c, rec in record["containers"].items() if rec["inputs"].get("image") == st.get("imageId")]
            if in_use and not st.get("forceRemove"):
                raise ProviderError(f"Error response from daemon: conflict: unable to remove image {st['name']}: "
                                    f"image is being used by container {in_use[0]}")
            record["images"].pop(st.get("imageId"), None)


class Image(ResourceType):
    """docker.Image (a build): the image is recorded under its name; nothing is built or pushed."""

    UPDATABLE = frozenset({"build", "skipPush", "buildOnPreview", "registry"})

    def check(self, news, olds):
        build = news.get("build") or {}
        return [] if build.get("context") else ["build.context: required"]

    def create(self, inputs):
        name = inputs["imageName"]
        digest = _hex("build", name, str(inputs.get("build")))
        with state.docker_record() as record:
            record["images"][f"sha256:{digest}"] = {"id": f"sha256:{digest}", "name": name}
        return f"{name}", {**inputs, "repoDigest": "", "platform": "linux/amd64",
                           "dockerfile": (inputs.get("build") or {}).get("dockerfile", "Dockerfile"),
                           "context": (inputs.get("build") or {}).get("context")}

    def update(self, id_, st, old_inputs, news):
        return self.create(news)[1]

    def delete(self, id_, st):
        with state.docker_record() as record:
            for key, image in list(record["images"].items()):
                if image.get("name") == st.get("imageName"):
                    del record["images"][key]


class Network(ResourceType):
    UPDATABLE = frozenset({"labels"})

    def check(self, news, olds):
        return [] if news.get("driver", "bridge") in ("bridge", "overlay", "macvlan", "ipvlan", "host", "none") \
            else [f"driver: unknown network driver {news['driver']!r}"]

    def create(self, inputs):
        name = inputs["name"]
        with state.docker_record() as record:
            if name in record["networks"]:
                raise ProviderError(f"Error response from daemon: network with name {name} already exists")
            id_ = _hex("network", name, uuid.uuid4().hex)
            record["networks"][name] = {"id": id_, "inputs": inputs}
        return id_, {**inputs, "scope": "local", "ipamConfigs": [], "internal": inputs.get("internal", False)}

    def read(self, id_, st, inputs):
        found = state.read_docker()["networks"].get(st.get("name"))
        return st if found and found["id"] == id_ else None

    def delete(self, id_, st):
        with state.docker_record() as record:
            users = [c for c, rec in record["containers"].items()
                     if any(n["name"] == st["name"] for n in rec["inputs"].get("networksAdvanced") or [])]
            if users:
                raise ProviderError(f"Error response from daemon: error while removing network: network "
                                    f"{st['name']} id {id_} has active endpoints ({', '.join(users)})")
            record["networks"].pop(st["name"], None)


class Volume(ResourceType):
    def create(self, inputs):
        name = inputs.get("name") or _hex("volume", uuid.uuid4().hex)
        with state.docker_record() as record:
            record["volumes"].setdefault(name, {"inputs": inputs})  # Docker: creating an existing volume is a no-op
        return name, {**inputs, "name": name, "driver": inputs.get("driver", "local"),
                      "mountpoint": f"/var/lib/docker/volumes/{name}/_data"}

    def read(self, id_, st, inputs):
        return st if st.get("name") in state.read_docker()["volumes"] else None

    def delete(self, id_, st):
        with state.docker_record() as record:
            users = [c for c, rec in record["containers"].items()
                     if any(v.get("volumeName") == st["name"] for v in rec["inputs"].get("volumes") or [])]
            if users:
                raise ProviderError(f"Error response from daemon: remove {st['name']}: volume is in use - "
                                    f"[{', '.join(record['containers'][u]['id'] for u in users)}]")
            record["volumes"].pop(st["name"], None)


TYPES = {
    "docker:index/container:Container": Container,
    "docker:index/remoteImage:RemoteImage": RemoteImage,
    "docker:index/image:Image": Image,
    "docker:index/network:Network": Network,
    "docker:index/volume:Volume": Volume,
}

if __name__ == "__main__":
    serve(StandIn("docker", TYPES))
