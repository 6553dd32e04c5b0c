#!/usr/bin/env bash
# Installs the real peer tools the tests check lamina's output with, into .peers/ (never
# system-wide). `make test` runs it; it does nothing when the pinned versions are there already.
# Without network a missing peer is skipped by the tests, except under CI=true, where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS="$PWD/.peers"
mkdir -p "$PEERS"

fail() {
    echo "install-peers: $*" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    echo "install-peers: the tests that need it will be skipped" >&2
}

# LM Studio's published schemas (model.yaml, its config keys, folder names), run with node.
NPM_PEERS=(@lmstudio/lms-shared-types@0.6.14 @lmstudio/lms-kv-config@0.2.15 yaml@2.8.1)
npm_peers() {
    local stamp="$PEERS/npm.installed"
    [ "$(cat "$stamp" 2>/dev/null)" = "${NPM_PEERS[*]}" ] && return 0
    if ! command -v npm >/dev/null; then fail "npm is not installed"; return 0; fi
    if npm install --prefix "$PEERS" --no-audit --no-fund --silent "${NPM_PEERS[@]}"; then
        echo "${NPM_PEERS[*]}" > "$stamp"
    else
        fail "npm install ${NPM_PEERS[*]} failed"
    fi
}

npm_peers

# System packages, installed with apt-get when their binary is missing (needs root or sudo).
# One line each: the binary the tests look for, then the Debian package that provides it.
APT_PEERS=(
    "docker-registry docker-registry"   # CNCF Distribution 2.8: the registry client's tests
    "skopeo skopeo"                     # copies OCI images into and out of lamina serve
    "go golang-go"                      # Go's text/template renders lamina's chat templates
)
apt_peers() {
    local missing=() entry
    for entry in "${APT_PEERS[@]}"; do
        read -r binary package <<<"$entry"
        command -v "$binary" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then as_root=(sudo -n)
        else fail "needs root to apt-get install ${missing[*]}"; return 0; fi
    fi
    echo "install-peers: apt-get install ${missing[*]}" >&2
    if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
           "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
               "${missing[@]}" >/dev/null; }; then
        fail "apt-get install ${missing[*]} failed"
    fi
}

apt_peers
