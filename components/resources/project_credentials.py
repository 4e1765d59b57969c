"""A project's key material as Pulumi resources: one seed per live signing-key generation and
one random value per generation of its opaque API keys (or the seeds `keys.seeds` brings
from the cell the project moved from: components/core/config/key_seeds.py).

Not a component of its own: the seeds are children of the project (one fewer resource in
state per project), and everything else is computed from them by
components/core/project_keys.py inside outputs, so `pulumi preview` shows a rotation as
exactly one seed created (and later one deleted), with no key material in plain text.
The resource names carry the generation, so a bump is a create, never a replace of a key
that is still verifying.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import pulumi
import pulumi_random as random

from components.core import opaque_keys, project_keys
from components.core.config import KeysConfig
from components.core.naming import ProjectNames
from components.core.signing_keys import SEED_LENGTH, SigningKey
from components.providers.kong_config import VerifyingKey


def _seed(name: str, opts: pulumi.ResourceOptions, given: Optional[str],
          length: int = SEED_LENGTH) -> pulumi.Output[str]:
    """The seed `keys.seeds` gives (a project moved from another cell), else a pulumi-random one.

    A given seed declares no RandomPassword: a generation has one seed for its whole life, and
    a random resource beside it would be a second, unused one that a later edit of the config
    (removing `seeds`) would silently turn into a different key."""
    if given is not None:
        return pulumi.Output.secret(given)
    return pulumi.Output.secret(random.RandomPassword(name, length=length, special=False, opts=opts).result)


class ProjectCredentials:
    """Declares the seeds (children of `opts.parent`) and exposes the keys as Outputs."""

    def __init__(self, name: str, names: ProjectNames, keys: KeysConfig, opts: pulumi.ResourceOptions,
                 stack_key: Optional[pulumi.Output[SigningKey]] = None):
        generations = keys.generations
        seeds = [_seed(f"{name}-signing-key-{g}", opts, keys.seed("signing", g)) for g in generations]
        api = _seed(f"{name}-api-keys-{keys.api}", opts, keys.seed("api", keys.api), 2 * opaque_keys.RANDOM_LENGTH)
        drawn = pulumi.Output.all(*seeds, api)
        # What a move to another cell copies into that cell's `keys.seeds` (projectKeySeeds).
        self.seeds = pulumi.Output.secret(drawn.apply(lambda v: {
            "signing": {str(g): seed for g, seed in zip(generations, v[:-1])}, "api": {str(keys.api): v[-1]}}))
        self._set = drawn.apply(lambda v: project_keys.key_set(
            names.project, names.anon, names.service, generations, list(v[:-1]), v[-1]))
        self.anon_key = pulumi.Output.unsecret(self._set.apply(lambda k: k.anon_jwt))
        self.service_key = pulumi.Output.secret(self._set.apply(lambda k: k.service_jwt))
        self.publishable_key = pulumi.Output.unsecret(self._set.apply(lambda k: k.publishable_key))
        self.secret_key = pulumi.Output.secret(self._set.apply(lambda k: k.secret_key))
        self.jwks = pulumi.Output.unsecret(self._set.apply(lambda k: k.jwks()))
        self.gotrue_keys = pulumi.Output.secret(self._set.apply(lambda k: k.gotrue_keys()))
        self.gotrue_secret = pulumi.Output.secret(self._set.apply(lambda k: k.gotrue_secret()))
        self.verifying_keys = self._verifying(names, stack_key)

    def _verifying(self, names: ProjectNames, stack_key: Optional[pulumi.Output[SigningKey]]) -> pulumi.Output[list]:
        """The project's own keys carry its roles; with `auth.mode: shared` the stack's key also
        counts, for the stack-wide signed-in role only (its GoTrue signs the shared users)."""
        own_roles = tuple(names.api_roles())
        own = self._set.apply(lambda k: [asdict(VerifyingKey(s.kid, s.public_pem(), own_roles)) for s in k.live])
        if names.own_auth or stack_key is None:
            return pulumi.Output.unsecret(own)
        shared = stack_key.apply(lambda s: asdict(VerifyingKey(s.kid, s.public_pem(), (names.authenticated,))))
        return pulumi.Output.unsecret(pulumi.Output.all(own, shared).apply(lambda v: [*v[0], v[1]]))

