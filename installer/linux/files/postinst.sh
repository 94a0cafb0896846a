#!/bin/sh
# sitewarden-runner post-install. deb: "configure" [old version] (or
# "abort-*"); rpm: $1 = 1 (install) or 2 (upgrade). DPKG_ROOT is set for a
# staged install (dpkg --root DIR --force-script-chrootless).
set -e
root="${DPKG_ROOT:-}"
case "$1" in abort-*) exit 0 ;; esac
install -d -m 0700 "$root/var/lib/sitewarden"
# Settings and an enrollment token from the RMM tool (a fleet token enrolls
# the site SITEWARDEN_SITE_NAME names, else the host name): written into the config
# (the token into its own file, mode 0600), then enrollment right away.
# Enrollment that fails here does not fail the install: the token stays
# and the service tries again when it starts.
if [ -f "$root/etc/default/sitewarden-runner" ]; then
	if ! "$root/usr/bin/sitewarden-runner" configure --root "$root" --config /etc/sitewarden/runner.yaml \
		--env-file /etc/default/sitewarden-runner --enroll; then
		echo "sitewarden-runner: not enrolled yet (see above); the service tries again when it starts" >&2
	fi
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	systemctl enable sitewarden-runner.service >/dev/null 2>&1 || true
	systemctl restart sitewarden-runner.service ||
		echo "sitewarden-runner: the service did not start; see 'journalctl -u sitewarden-runner'" >&2
fi
exit 0
