#!/usr/bin/env bash
# `make demo`: lamina's main job end to end, on a store of its own under .demo/.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lamina check examples/"
lamina check examples
echo "== lamina fmt --check examples/"
lamina fmt --check examples
echo "examples are formatted canonically"
