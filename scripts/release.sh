#!/usr/bin/env bash
# scripts/release.sh — `make release`: build Airlock for every release
# platform into dist/, stamped with version, commit and date, with a
# SHA256SUMS file beside them. See docs/release.md.
#
#   linux/amd64, linux/arm64  cgo (libpg_query), statically linked against
#                             glibc's libc.a; net and os/user in pure Go
#                             (netgo, osusergo) so no NSS module is needed.
#                             arm64 needs Debian's gcc-aarch64-linux-gnu and
#                             libc6-dev-arm64-cross (installed when root).
#   darwin/arm64              no cgo cross-compiler for macOS here: the pure
#                             Go parser build (-tags pgquery_wasm); on a Mac,
#                             RELEASE_DARWIN_CGO=1 builds it with cgo instead.
#
# Environment: VERSION (default: git describe), COMMIT (git rev-parse HEAD),
# DATE (the commit's date, so rebuilding a commit gives the same stamp),
# PLATFORMS (default "linux/amd64 linux/arm64 darwin/arm64"), DIST (dist).
set -euo pipefail

log() { printf 'release: %s\n' "$*" >&2; }
die() { printf 'release: ERROR: %s\n' "$*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
GO="${GO:-go}"
VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
COMMIT="${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
DATE="${DATE:-$(TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)}"
PLATFORMS="${PLATFORMS:-linux/amd64 linux/arm64 darwin/arm64}"
DIST="${DIST:-dist}"

pkg=github.com/airlockhq/airlock/server
stamp="-X $pkg.Version=$VERSION -X $pkg.Commit=$COMMIT -X $pkg.BuildDate=$DATE"
host="$($GO env GOOS)/$($GO env GOARCH)"

# cross_cc prints the C cross-compiler for a linux GOARCH, installing
# Debian's when missing and running as root.
cross_cc() {
	local arch=$1 triple pkgs
	case $arch in
	amd64) triple=x86_64-linux-gnu; pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;;
	arm64) triple=aarch64-linux-gnu; pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
	*) die "no C cross-compiler known for linux/$arch" ;;
	esac
	if [[ "$host" == "linux/$arch" ]]; then
		printf '%s\n' "${CC:-gcc}"
		return
	fi
	if ! command -v "$triple-gcc" >/dev/null; then
		[[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null ||
			die "linux/$arch needs $triple-gcc: apt-get install $pkgs"
		log "installing $pkgs"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs >&2 ||
			die "apt-get install $pkgs failed"
	fi
	printf '%s\n' "$triple-gcc"
}

rm -rf "$DIST"
mkdir -p "$DIST"
for platform in $PLATFORMS; do
	os="${platform%/*}" arch="${platform#*/}"
	out="$DIST/airlock_${VERSION}_${os}_${arch}"
	start=$SECONDS
	case $os in
	linux)
		cc="$(cross_cc "$arch")"
		log "$platform: cgo, static ($cc)"
		GOOS=$os GOARCH=$arch CGO_ENABLED=1 CC="$cc" $GO build -trimpath -tags netgo,osusergo \
			-ldflags "-s -w -linkmode external -extldflags -static $stamp" -o "$out/airlock" ./cmd/airlock
		;;
	darwin)
		if [[ "${RELEASE_DARWIN_CGO:-}" == 1 ]]; then
			[[ "$host" == "$platform" ]] || die "RELEASE_DARWIN_CGO=1 builds on $platform only (this is $host)"
			log "$platform: cgo"
			CGO_ENABLED=1 $GO build -trimpath -ldflags "-s -w $stamp" -o "$out/airlock" ./cmd/airlock
		else
			log "$platform: pure Go parser (-tags pgquery_wasm)"
			GOOS=$os GOARCH=$arch CGO_ENABLED=0 $GO build -trimpath -tags pgquery_wasm \
				-ldflags "-s -w $stamp" -o "$out/airlock" ./cmd/airlock
		fi
		;;
	*) die "unsupported platform $platform" ;;
	esac
	cp README.md "$out/"
	[[ -f LICENSE ]] && cp LICENSE "$out/"
	# A Linux binary must need no shared library at all.
	if [[ $os == linux ]] && command -v readelf >/dev/null && readelf -d "$out/airlock" 2>/dev/null | grep -q NEEDED; then
		die "$platform: the binary is not static: $(readelf -d "$out/airlock" | grep NEEDED | tr -s ' ')"
	fi
	# The host's own binary must run and report the stamp.
	if [[ "$platform" == "$host" ]]; then
		got="$("$out/airlock" version)"
		[[ "$got" == "airlock $VERSION (commit $COMMIT, built $DATE,"* ]] || die "$platform: version says: $got"
		log "$platform: $got"
	fi
	# Same inputs, same archive: fixed owner, order and time.
	tar -C "$DIST" --sort=name --owner=0 --group=0 --numeric-owner --mtime="$DATE" \
		-cf - "$(basename "$out")" | gzip -n >"$out.tar.gz"
	rm -rf "$out"
	log "$platform: $out.tar.gz ($((SECONDS - start))s)"
done
(cd "$DIST" && sha256sum -- *.tar.gz >SHA256SUMS)
log "checksums in $DIST/SHA256SUMS"
cat "$DIST/SHA256SUMS"
