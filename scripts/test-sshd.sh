#!/usr/bin/env bash
# scripts/test-sshd.sh — make sure the test suite can start a real OpenSSH sshd.
#
# The run_ssh integration tests (tools/runssh/sshdtest) start their own
# throwaway sshd on a loopback port with generated host and user keys and a
# config of their own; this script only provides what they cannot make:
#
#   1. the sshd binary: Debian's openssh-server, installed non-interactively
#      with apt-get when missing (without starting the system's SSH service);
#   2. when running as root, the unprivileged account the tests log in as
#      (airlock-sshtest, no password, not locked: sshd refuses locked
#      accounts when PAM is off); as another user, tests log in as that user;
#   3. sshd's privilege separation directory (/run/sshd) when root.
#
# Prints exactly one line on stdout: the absolute path of sshd (make test
# exports it as AIRLOCK_TEST_SSHD). Progress goes to stderr. Fails (non-zero
# exit, message on stderr) when something cannot be provided. Never skips.
set -euo pipefail

log() { printf 'test-sshd: %s\n' "$*" >&2; }
die() { printf 'test-sshd: ERROR: %s\n' "$*" >&2; exit 1; }

TEST_USER="${AIRLOCK_TEST_SSH_USER:-airlock-sshtest}"

find_sshd() {
	local p
	for p in "${AIRLOCK_TEST_SSHD:-}" /usr/sbin/sshd "$(command -v sshd 2>/dev/null || true)"; do
		if [[ -n "$p" && -x "$p" ]]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

install_sshd() {
	[[ "$(id -u)" == 0 ]] || die "sshd is not installed and this is not root: install it with 'sudo apt-get install -y openssh-server' (or set AIRLOCK_TEST_SSHD to an sshd binary)"
	command -v apt-get >/dev/null || die "sshd is not installed and apt-get is missing: install OpenSSH's sshd and set AIRLOCK_TEST_SSHD to its path"
	log "installing openssh-server with apt-get"
	# Keep the package from starting the system's SSH service: the tests run
	# their own sshd, and nothing else should listen on port 22.
	local policy=/usr/sbin/policy-rc.d own_policy=0
	if [[ ! -e "$policy" ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		own_policy=1
	fi
	local rc=0
	{
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >&2 ||
			{ log "apt-get install failed; updating the package lists and retrying"; apt-get update -q >&2 &&
				DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >&2; }
	} || rc=$?
	if [[ "$own_policy" == 1 ]]; then rm -f "$policy"; fi
	[[ "$rc" == 0 ]] || die "apt-get install -y openssh-server failed (exit $rc)"
}

sshd_path="$(find_sshd || true)"
if [[ -z "$sshd_path" ]]; then
	install_sshd
	sshd_path="$(find_sshd || true)"
	[[ -n "$sshd_path" ]] || die "openssh-server is installed but no sshd binary was found"
fi

if [[ "$(id -u)" == 0 ]]; then
	mkdir -p /run/sshd
	chmod 0755 /run/sshd
	if ! id -u "$TEST_USER" >/dev/null 2>&1; then
		log "creating the unprivileged test user $TEST_USER"
		useradd --create-home --shell /bin/sh "$TEST_USER" || die "useradd $TEST_USER failed"
	fi
	# '*': no password, but not locked ('!'), which sshd refuses without PAM.
	usermod -p '*' "$TEST_USER" || die "usermod -p '*' $TEST_USER failed"
fi

log "$("$sshd_path" -V 2>&1 | head -n 1 || true) at $sshd_path"
printf '%s\n' "$sshd_path"
