#!/usr/bin/env bash
# Installs what Strata needs and is missing: Debian packages (as root), a venv, the project itself.
# Idempotent: a second run only checks. Used by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

# openssh-server and sudo: what Mininet's cluster edition needs on each server (`strata cluster emulate`)
APT_PACKAGES=(openvswitch-switch mininet ethtool iputils-ping iperf3 iperf curl docker-registry runc
              openssh-server sudo)
VENV=.venv
PYTHON=${PYTHON:-python3}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages (${missing[*]}); run as root to install them" >&2
    else
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

# 3.11.4 is the first 3.11 with tarfile's extraction filters, which layer extraction uses beside its own checks.
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11, 4))'; then
    echo "setup: Strata needs Python 3.11.4 or newer; $PYTHON is $("$PYTHON" --version 2>&1)" >&2
    exit 1
fi
if [[ ! -x $VENV/bin/python ]]; then
    echo "setup: creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# Reinstall only when the project metadata changed since the last install.
stamp=$VENV/.strata-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
    echo "setup: installing Strata and its Python dependencies into $VENV"
    # This machine's pip configuration names local indexes that may be absent: drop that noise.
    quiet_pip() {
        "$VENV/bin/pip" "$@" 2>&1 | { grep -v -e "is ignored: it is neither" -e "^ *$" || true; }
        return "${PIPESTATUS[0]}"
    }
    quiet_pip install -q --upgrade pip
    quiet_pip install -q -e ".[test]"
    echo "$want" > "$stamp"
fi
