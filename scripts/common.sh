# Shared by scripts/test and scripts/serve: system packages, the virtualenv, step headers.
# Callers set APT_PACKAGES (space separated Debian packages) and PIP_TARGET (e.g. ".[test]").

PYTHON="${PYTHON:-python3}"
VENV=".venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUNBUFFERED=1


step() { printf '\n==> %s\n' "$*"; }

# True when a Debian package's files are already present.
have_package() {
    case "$1" in
    postgresql) compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null ;;
    *) dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed' ;;
    esac
}

install_system_packages() {
    local missing=() pkg sudo=()
    for pkg in $APT_PACKAGES; do
        have_package "$pkg" || missing+=("$pkg")
    done
    if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "system packages present: $APT_PACKAGES"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
}

make_venv() {
    if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --progress-bar off -e "$PIP_TARGET"
}

use_venv() {
    export VIRTUAL_ENV="$PWD/$VENV"
    export PATH="$VIRTUAL_ENV/bin:$PATH"
}
