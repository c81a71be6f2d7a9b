#!/usr/bin/env bash
# scripts/test-chromium.sh — make sure the console's browser test
# (console/browser_test.go, chromedp) can start headless Chromium.
#
# Installs Debian's chromium with apt-get only when no chromium is found.
# Prints exactly one line on stdout: the absolute path of the browser (make
# test exports it as AIRLOCK_TEST_CHROMIUM). Progress goes to stderr.
# Fails (non-zero exit, message on stderr) when it cannot be provided.
set -euo pipefail

log() { printf 'test-chromium: %s\n' "$*" >&2; }
die() { printf 'test-chromium: ERROR: %s\n' "$*" >&2; exit 1; }

find_chromium() {
	local p
	for p in "${AIRLOCK_TEST_CHROMIUM:-}" "$(command -v chromium 2>/dev/null || true)" \
		"$(command -v chromium-browser 2>/dev/null || true)" /usr/bin/chromium; do
		if [[ -n "$p" && -x "$p" ]]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

path="$(find_chromium || true)"
if [[ -z "$path" ]]; then
	[[ "$(id -u)" == 0 ]] || die "chromium is not installed and this is not root: install it with 'sudo apt-get install -y chromium' (or set AIRLOCK_TEST_CHROMIUM)"
	command -v apt-get >/dev/null || die "chromium is not installed and apt-get is missing: install Chromium and set AIRLOCK_TEST_CHROMIUM to its path"
	log "installing chromium with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends chromium >&2 ||
		{ log "apt-get install failed; updating the package lists and retrying"; apt-get update -q >&2 &&
			apt-get install -y -q --no-install-recommends chromium >&2; } ||
		die "apt-get install -y chromium failed"
	path="$(find_chromium || true)"
	[[ -n "$path" ]] || die "chromium is installed but no binary was found"
fi
printf '%s\n' "$path"
