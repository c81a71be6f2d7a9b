#!/usr/bin/env bash
# scripts/npm-interop.sh — install the MCP TypeScript SDK interop client's
# dependencies (server/testdata/interop) with `npm ci`, when node_modules is
# missing or older than package-lock.json. Fails loudly if node/npm is missing
# or npm fails. All output goes to stderr.
set -euo pipefail

log() { printf 'npm-interop: %s\n' "$*" >&2; }
die() { printf 'npm-interop: ERROR: %s\n' "$*" >&2; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DIR="$REPO/server/testdata/interop"
LOCK="$DIR/package-lock.json"
MODS="$DIR/node_modules"
# npm ci writes this file last, so it is a good "install finished" stamp.
STAMP="$MODS/.package-lock.json"

[[ -f "$LOCK" ]] || die "$LOCK not found"
command -v node >/dev/null 2>&1 || die "node is not installed (needed for the MCP SDK interop tests)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (needed for the MCP SDK interop tests)"

if [[ -d "$MODS" && -f "$STAMP" && ! "$LOCK" -nt "$STAMP" && ! "$DIR/package.json" -nt "$STAMP" ]]; then
	log "node_modules is up to date ($DIR)"
	exit 0
fi

log "npm ci in $DIR (node $(node --version), npm $(npm --version))"
(cd "$DIR" && npm ci --no-audit --no-fund </dev/null >&2) || die "npm ci failed in $DIR"
[[ -f "$STAMP" ]] || die "npm ci did not produce $STAMP"
touch "$STAMP"
(cd "$DIR" && node -e 'import("@modelcontextprotocol/sdk/client/index.js").then(()=>{},e=>{console.error(e);process.exit(1)})') \
	|| die "the MCP SDK does not load after npm ci"
log "done"
