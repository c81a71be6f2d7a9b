#!/usr/bin/env bash
# scripts/npm-interop.sh — install the npm packages the tests use, with
# `npm ci`, when a folder's node_modules is missing or older than its
# package-lock.json:
#   server/testdata/interop  the official MCP TypeScript SDK (interop client)
#   evals/bench/reference    @modelcontextprotocol/server-postgres, pinned
#                            (the reference server airlock bench measures)
#   cmd/airlock/testdata/inspector  @modelcontextprotocol/inspector, pinned at
#                            the version the README and docs/clients.md use
#                            (run by the quick-start and cookbook tests)
#   tools/upstream/testdata/npm  @modelcontextprotocol/server-postgres and
#                            server-everything, pinned (real upstreams put
#                            behind Airlock by the kind: mcp tests)
# Fails loudly if node/npm is missing or npm fails. All output goes to stderr.
set -euo pipefail

log() { printf 'npm-interop: %s\n' "$*" >&2; }
die() { printf 'npm-interop: ERROR: %s\n' "$*" >&2; exit 1; }

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

command -v node >/dev/null 2>&1 || die "node is not installed (needed for the MCP SDK interop tests and the bench)"
command -v npm >/dev/null 2>&1 || die "npm is not installed (needed for the MCP SDK interop tests and the bench)"

# install DIR CHECK: npm ci in DIR unless up to date, then run the node
# snippet CHECK there to prove the packages load.
install() {
	local dir="$1" check="$2"
	local lock="$dir/package-lock.json" mods="$dir/node_modules"
	# npm ci writes this file last, so it is a good "install finished" stamp.
	local stamp="$mods/.package-lock.json"
	[[ -f "$lock" ]] || die "$lock not found"
	if [[ -d "$mods" && -f "$stamp" && ! "$lock" -nt "$stamp" && ! "$dir/package.json" -nt "$stamp" ]]; then
		log "node_modules is up to date ($dir)"
		return 0
	fi
	log "npm ci in $dir (node $(node --version), npm $(npm --version))"
	(cd "$dir" && npm ci --no-audit --no-fund </dev/null >&2) || die "npm ci failed in $dir"
	[[ -f "$stamp" ]] || die "npm ci did not produce $stamp"
	touch "$stamp"
	(cd "$dir" && node -e "$check") || die "the packages in $dir do not load after npm ci"
}

install "$REPO/server/testdata/interop" \
	'import("@modelcontextprotocol/sdk/client/index.js").then(()=>{},e=>{console.error(e);process.exit(1)})'
install "$REPO/evals/bench/reference" \
	'require("fs").accessSync("node_modules/@modelcontextprotocol/server-postgres/dist/index.js")'
install "$REPO/cmd/airlock/testdata/inspector" \
	'require("fs").accessSync("node_modules/@modelcontextprotocol/inspector/cli/build/cli.js")'
install "$REPO/tools/upstream/testdata/npm" \
	'for (const p of ["server-postgres/dist/index.js", "server-everything/dist/index.js"]) require("fs").accessSync("node_modules/@modelcontextprotocol/" + p)'
log "done"
