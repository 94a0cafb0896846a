#!/usr/bin/env bash
# Installs the Debian packages the test suite needs. Idempotent and fast when
# everything is present; later issues add their packages to PACKAGES.
# Run as root on Debian (CI and developer machines are). It never skips
# silently: if a package is missing and cannot be installed, it fails.
set -euo pipefail

PACKAGES=(
	g++ nlohmann-json3-dev libstb-dev # runner/model: building the Ollama server (.ci/ollama.sh)
	slapd ldap-utils openssl # plugins/directory: OpenLDAP test server (slapdtest)
	samba samba-ad-provision samba-dsdb-modules samba-vfs-modules # plugins/directory: Samba AD DC (sambatest)
	wixl msitools osslsigncode rpm systemd # installer: MSI build and inspection, Authenticode signing, rpm and unit checks
	chromium # control-plane/web: browser tests (chromedp)
	postgresql # control-plane/store: PostgreSQL test server (pgtest)
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages: ${missing[*]}; run 'sudo make deps' (needs root)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
