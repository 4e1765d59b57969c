# Source it in each new shell before running the README's commands:
#     source scripts/env.sh
# Pulumi.yaml already names the state backend; what Pulumi cannot read from a file is the
# passphrase that encrypts the stack's secrets, so this exports the path of the file that
# scripts/up.sh created (PULUMI_CONFIG_PASSPHRASE_FILE) and puts the project's virtualenv
# first on PATH (for `python -m dashboard`). It changes nothing else and prints nothing on
# success. Set SUPABASE_MI_HOME before both scripts to keep state and passphrase elsewhere.

if [ -n "${BASH_SOURCE:-}" ]; then
    _smi_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
elif [ -n "${ZSH_VERSION:-}" ]; then
    eval '_smi_root=$(cd "$(dirname "${(%):-%x}")/.." && pwd)'
else
    _smi_root=$PWD
fi
_smi_home="${SUPABASE_MI_HOME:-$HOME/.supabase-multi-instance}"

if [ -n "${SUPABASE_MI_HOME:-}" ]; then
    export PULUMI_BACKEND_URL="file://$_smi_home/state"
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    if [ -s "$_smi_home/passphrase" ]; then
        export PULUMI_CONFIG_PASSPHRASE_FILE="$_smi_home/passphrase"
    else
        echo "scripts/env.sh: no state passphrase in $_smi_home yet; run scripts/up.sh first" >&2
    fi
fi
case ":$PATH:" in
    *":$_smi_root/.venv/bin:"*) ;;
    *) [ -d "$_smi_root/.venv/bin" ] && export PATH="$_smi_root/.venv/bin:$PATH" ;;
esac
unset _smi_root _smi_home
