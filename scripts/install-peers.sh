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
