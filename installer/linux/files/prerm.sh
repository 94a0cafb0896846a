#!/bin/sh
# sitewarden-runner pre-removal. deb: "remove", "upgrade", ...; rpm: $1 = 0
# (removal) or 1 (upgrade). On an upgrade the new post-install restarts
# the service.
set -e
root="${DPKG_ROOT:-}"
case "$1" in remove | 0) ;; *) exit 0 ;; esac
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl stop sitewarden-runner.service || true
	systemctl disable sitewarden-runner.service >/dev/null 2>&1 || true
fi
exit 0
