#!/usr/bin/env bash
# scripts/test-helm.sh — provide the helm binary the chart tests
# (deploy/chart_test.go: helm lint --strict, helm template) run.
#
# Uses AIRLOCK_TEST_HELM or helm on PATH when present; otherwise builds
# helm from its Go module (helm.sh/helm/v3/cmd/helm, pinned below) into
# the user's cache (${XDG_CACHE_HOME:-~/.cache}/airlock-test/bin) with
# `go install`, once per machine: later runs and fresh clones reuse it. Debian does not
# package helm. The first build compiles Kubernetes' client libraries and
# takes minutes on a cold Go build cache (see docs/kubernetes.md).
#
# Prints exactly one line on stdout: the absolute path of helm. Progress
# goes to stderr. Fails (non-zero exit, message on stderr) when helm cannot
# be provided.
set -euo pipefail

HELM_MODULE=helm.sh/helm/v3/cmd/helm
HELM_VERSION=v3.22.0

log() { printf 'test-helm: %s\n' "$*" >&2; }
die() { printf 'test-helm: ERROR: %s\n' "$*" >&2; exit 1; }

for p in "${AIRLOCK_TEST_HELM:-}" "$(command -v helm 2>/dev/null || true)"; do
	if [[ -n "$p" && -x "$p" ]]; then
		printf '%s\n' "$(cd "$(dirname "$p")" && pwd)/$(basename "$p")"
		exit 0
	fi
done

bin="${XDG_CACHE_HOME:-$HOME/.cache}/airlock-test/bin"
# The module version Go recorded in the binary (helm's own `version` is
# only set by its release builds).
if [[ -x "$bin/helm" ]] && go version -m "$bin/helm" 2>/dev/null | grep -q "helm.sh/helm/v3[[:space:]]*${HELM_VERSION}"; then
	printf '%s\n' "$bin/helm"
	exit 0
fi
command -v go >/dev/null || die "go is not on PATH: cannot build helm ($HELM_MODULE@$HELM_VERSION)"
mkdir -p "$bin"
log "building helm $HELM_VERSION with go install (once; takes minutes on a cold build cache)"
# Outside the repository, so helm's dependencies never touch Airlock's go.mod.
if ! (cd "$bin" && GOBIN="$bin" GOFLAGS=-mod=mod go install "$HELM_MODULE@$HELM_VERSION") >&2; then
	die "go install $HELM_MODULE@$HELM_VERSION failed (see above)"
fi
printf '%s\n' "$bin/helm"
