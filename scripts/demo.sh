#!/usr/bin/env bash
# The main job on the embedded default store (./.statekeeper in the current directory): push a
# snapshot, push a changed one, look at history, diff, roll back, verify. Safe to re-run: every
# run adds revisions, nothing is rewritten. Run with `npm run demo` (it builds first).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/bin/statekeeper.js"
V1="$ROOT/examples/webshop-v1.json"
V2="$ROOT/examples/webshop-v2.json"
# Shorter to read, and pasteable, when run from the repository (as `npm run demo` does).
if [[ "$(pwd)" == "$ROOT" ]]; then V1="examples/webshop-v1.json" V2="examples/webshop-v2.json"; fi

if [[ ! -f "$ROOT/dist/cli/main.js" ]]; then
  echo "demo: dist/ is missing; run 'npm run build' (or 'npm run demo')" >&2
  exit 1
fi

# The demo is about the embedded default: no store URL or key from the caller's environment.
unset STATEKEEPER_STORE STATEKEEPER_KEY
export STATEKEEPER_FACTORY=webshop STATEKEEPER_STACK=prod

bold=""; reset=""
if [[ -t 1 && -z "${NO_COLOR:-}" ]]; then bold=$'\e[1m'; reset=$'\e[0m'; fi

show_cmd() { printf '\n%s$ statekeeper %s%s\n' "$bold" "$*" "$reset"; }
sk() { show_cmd "$@"; node "$BIN" "$@"; }
# Runs a command that prints a rev, shows it, and stores it in the variable named by $1.
sk_rev() {
  local var="$1"; shift
  show_cmd "$@"
  local rev
  rev="$(node "$BIN" "$@")"
  echo "$rev"
  printf -v "$var" '%s' "$rev"
}

echo "statekeeper demo: state in $(pwd)/.statekeeper, stack $STATEKEEPER_FACTORY/$STATEKEEPER_STACK"
echo "(export STATEKEEPER_FACTORY=webshop STATEKEEPER_STACK=prod to run the commands below yourself)"

sk_rev REV1 push "$V1"
sk_rev REV2 push "$V2"
sk history
sk show
sk diff "$REV1" "$REV2"
sk_rev REV3 rollback --to "$REV1"
sk history --reverse
sk diff "$REV2" current
sk verify
sk stacks

printf '\ndemo: done. History is never rewritten: the rollback is revision %s, with the content of %s.\n' "$REV3" "$REV1"
