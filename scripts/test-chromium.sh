#!/usr/bin/env bash
# Provisions headless Chromium for the console's browser test (console/
# browser_test.go) and prints its path. Idempotent and quiet: installs the
# Debian package only when no chromium is on PATH. Tests find it through
# AIRLOCK_TEST_CHROMIUM (set by `make test`) or PATH.
set -euo pipefail
for c in chromium chromium-browser; do
	if p="$(command -v "$c" 2>/dev/null)"; then
		echo "$p"
		exit 0
	fi
done
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -qq chromium >/dev/null 2>&1; then
	$sudo apt-get update -qq >/dev/null
	$sudo apt-get install -y -qq chromium >/dev/null
fi
command -v chromium
