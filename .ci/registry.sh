#!/usr/bin/env bash
# Tools for slimview's registry tests: Debian's docker-registry (the CNCF distribution
# registry 2.8), apache2-utils (htpasswd) and skopeo. The tests start their own
# registries on 127.0.0.1 (tests/registry.py); nothing here starts a service.
#
#   bash .ci/registry.sh install    install what is missing (idempotent)
set -euo pipefail

install_tools() {
    local missing=() pkg added_policy=0
    for pkg in docker-registry apache2-utils skopeo; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && { echo "registry tools present"; return 0; }
    # The package would start a registry on all interfaces; keep services from starting.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        added_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if ((added_policy)); then
        rm -f /usr/sbin/policy-rc.d
    fi
    echo "installed ${missing[*]}"
}

case ${1:-} in
    install) install_tools ;;
    *) echo "usage: $0 install" >&2; exit 1 ;;
esac
