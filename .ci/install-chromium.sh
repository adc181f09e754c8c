#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser tests (web/browser_test.go) when
# /usr/bin/chromium is missing, then prints its version. Needs root (CI runs as root) and the
# Debian package mirror. Exits non-zero when Chromium cannot be installed or does not run.
set -euo pipefail

if [[ ! -x /usr/bin/chromium ]]; then
	echo "== installing Chromium (Debian package)"
	export DEBIAN_FRONTEND=noninteractive
	# Wait for another apt/dpkg run (another CI step) instead of failing on its lock.
	apt-get -o DPkg::Lock::Timeout=300 update </dev/null
	apt-get -o DPkg::Lock::Timeout=300 install -y chromium </dev/null
fi
if [[ ! -x /usr/bin/chromium ]]; then
	echo "chromium was installed but /usr/bin/chromium is missing" >&2
	exit 1
fi
# Debian's launcher script prints a harmless shell warning on some machines; keep only the version.
version=$(/usr/bin/chromium --version 2>/dev/null)
if [[ -z "$version" ]]; then
	echo "/usr/bin/chromium --version printed nothing; Chromium does not run:" >&2
	/usr/bin/chromium --version >&2 || true
	exit 1
fi
echo "$version"
