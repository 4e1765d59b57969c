"""Config of the auth blocks (stack `auth`, `projects[].auth`): each key validated, one line per problem."""
from __future__ import annotations

import pytest

from components.core.config import ConfigError, parse_config, warnings

PLAIN = frozenset({"postgresPassword", "jwtSecret", "dashboardPassword"})  # nothing set with --secret
SECRET = PLAIN | {"projects", "auth"}
SMTP = {"host": "smtp.example.com", "sender": "noreply@example.com", "user": "mailer", "pass": "s3cret"}


def problems(raw: dict, secret_keys=SECRET) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(raw, secret_keys)
    return err.value.problems


def project(**auth) -> dict:
    return {"projects": [{"name": "blog", "auth": auth}]}


def test_defaults_are_own_pool_open_signup_confirmed_without_mail():
    auth = parse_config({"projects": [{"name": "blog"}]}).projects[0].auth
    assert (auth.mode, auth.signup, auth.jwt_expiry, auth.confirms_automatically) == ("own", "open", 3600, True)


def test_with_smtp_addresses_are_confirmed_by_mail_unless_said_otherwise():
    assert not parse_config(project(smtp=SMTP), SECRET).projects[0].auth.confirms_automatically
    assert parse_config(project(smtp=SMTP, autoconfirm=True), SECRET).projects[0].auth.confirms_automatically


@pytest.mark.parametrize("auth, expected", [
    ({"mode": "solo"}, "projects[0].auth.mode: 'solo' must be one of 'own' or 'shared'"),
    ({"signup": "maybe"}, "projects[0].auth.signup: 'maybe' must be one of 'open' or 'closed'"),
    ({"siteUrl": "app.example.com"}, "projects[0].auth.siteUrl: 'app.example.com' must be the http(s) URL of your app"),
    ({"redirectUrls": ["https://ok.example.com/**", "nope"]}, "projects[0].auth.redirectUrls: "),
    ({"jwtExpiry": 5}, "projects[0].auth.jwtExpiry: 5 "),
    ({"autoconfirm": False}, "projects[0].auth: autoconfirm: false needs `smtp`"),
    ({"smtp": {**SMTP, "sender": "nobody"}}, "projects[0].auth.smtp.sender: 'nobody' must be the e-mail address"),
    ({"smtp": {**SMTP, "port": 0}}, "projects[0].auth.smtp.port: 0 "),
    ({"smtp": {**SMTP, "host": "bad host"}}, "projects[0].auth.smtp.host: 'bad host' must be a host name"),
    ({"external": {"goggle": {"clientId": "c", "secret": "s"}}}, "projects[0].auth.external.goggle: unknown provider; did you mean 'google'?"),
    ({"external": {"github": {"secret": "s"}}}, "projects[0].auth.external.github.clientId: is required"),
    ({"mode": "shared", "signup": "closed"}, "projects[0].auth: signup: only for mode own"),
    ({"sigup": "open"}, "projects[0].auth.sigup: unknown key; did you mean 'signup'?"),
])
def test_bad_auth_settings_name_the_key(auth, expected):
    (line,) = problems(project(**auth))
    assert line.startswith(expected), line


def test_the_stack_block_has_no_mode():
    (line,) = problems({"auth": {"mode": "own"}})
    assert line.startswith("auth.mode: unknown key")


@pytest.mark.parametrize("raw, path", [
    (project(smtp=SMTP), "projects[0].auth.smtp.pass"),
    (project(external={"google": {"clientId": "c", "secret": "s"}}), "projects[0].auth.external.google.secret"),
    ({"auth": {"smtp": SMTP}}, "auth.smtp.pass"),
])
def test_secrets_in_plain_text_are_refused_with_the_command_to_fix_it(raw, path):
    (line,) = problems(raw, PLAIN)
    assert line == f"{path}: is stored in plain text; set it with `pulumi config set --secret --path '{path}' ...`"


def test_secret_values_are_never_echoed():
    lines = problems(project(smtp={**SMTP, "pass": 12345}), SECRET)
    assert lines and all("12345" not in line for line in lines)


def test_oauth_provider_settings_parse():
    auth = parse_config(project(external={"google": {"clientId": "id", "secret": "s"},
                                          "keycloak": {"clientId": "k", "secret": "s", "url": "https://kc.example.com/realms/x",
                                                       "enabled": False}})).projects[0].auth
    assert auth.external["google"].client_id == "id" and not auth.external["keycloak"].enabled
    assert auth.external["google"].secret.get_secret_value() == "s"


def published(**auth) -> dict:
    return {"domain": "example.com", "cloudflare": {"accountId": "0" * 32, "zoneId": "f" * 32},
            "auth": {"signup": "closed"}, "projects": [{"name": "blog", "auth": auth}]}


def test_a_published_open_signup_without_mail_is_warned_about():
    (line,) = [w for w in warnings(parse_config(published(), SECRET)) if "sign-up" in w]
    assert line.startswith("projects[0].auth: sign-up is open and no `smtp` is set")
    assert not [w for w in warnings(parse_config(published(signup="closed"), SECRET)) if "sign-up" in w]
    assert not [w for w in warnings(parse_config(published(smtp=SMTP), SECRET)) if "sign-up" in w]


def test_a_local_stack_is_not_warned_about_open_signup():
    assert not [w for w in warnings(parse_config({"projects": [{"name": "blog"}]})) if "sign-up" in w]


def test_default_is_reserved_for_studios_pages():
    (line,) = problems({"projects": [{"name": "default"}]})
    assert line.startswith("projects[0].name: 'default' is reserved: Studio's own pages are at /project/default")
