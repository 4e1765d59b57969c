#!/usr/bin/env bash
# Sets up and runs `pulumi up` of the local default stack (`dev`, Pulumi.dev.yaml) on this
# Docker host.
#   scripts/up.sh [pulumi up args, e.g. --yes]
# State lives in a local file backend (Pulumi.yaml `backend.url`, ~/.supabase-multi-instance/
# state; no Pulumi Cloud account needed); its secrets are encrypted with a passphrase kept in
# a 0600 file next to it unless you set PULUMI_CONFIG_PASSPHRASE. Later shells get the same
# environment with `source scripts/env.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "error: $*" >&2; exit 2; }

command -v pulumi >/dev/null 2>&1 || fail "the Pulumi CLI is not installed.
  Install it:  curl -fsSL https://get.pulumi.com | sh   (then open a new shell)
  Other ways:  https://www.pulumi.com/docs/iac/download-install/"
command -v docker >/dev/null 2>&1 || fail "Docker is not installed.
  Install Docker Engine: https://docs.docker.com/engine/install/"
docker info >/dev/null 2>&1 || fail "Docker is installed but its engine is not reachable (is the daemon running,
  and may this user use it? try: sudo systemctl start docker; sudo usermod -aG docker \$USER)"
command -v python3 >/dev/null 2>&1 || fail "python3 (3.10 or newer) is not installed."

# The file backend needs its folder; the passphrase file is created once and kept.
home="${SUPABASE_MI_HOME:-$HOME/.supabase-multi-instance}"
mkdir -p "$home/state" && chmod 700 "$home"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ ! -s "$home/passphrase" ]; then
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$home/passphrase")
    echo "generated the state passphrase in $home/passphrase: back it up, it decrypts your secrets"
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt

# What every later shell gets from the same line: the passphrase file and the virtualenv.
source scripts/env.sh
pulumi stack select --create dev
# A stack made before PostgreSQL 17 runs 15 on the volume db-data: record that, so this version
# keeps it there instead of asking for new 17 volumes (README, "Upgrading Postgres to a new major").
if ! pulumi config get postgresMajor >/dev/null 2>&1 \
        && pulumi stack --show-urns 2>/dev/null | grep -q 'index:Postgres\$docker:index/volume:Volume::db-data$'; then
    pulumi config set postgresMajor 15
    echo "recorded postgresMajor 15: this stack's database runs PostgreSQL 15 (README: upgrading Postgres)"
fi
pulumi up "$@"
echo
echo "In a new shell, first:  source scripts/env.sh"
echo "URLs:    pulumi stack output"
echo "Keys:    pulumi stack output projectServiceKeys --show-secrets"
