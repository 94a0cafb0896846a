#!/bin/sh
# sitewarden-runner post-removal. deb: "remove" keeps the site's identity
# and audit log (/var/lib/sitewarden) and the configuration; "purge"
# deletes them. rpm ($1 = 0 or 1) has no purge: 'rpm -e' keeps the data
# (delete /var/lib/sitewarden by hand).
set -e
root="${DPKG_ROOT:-}"
if [ "$1" = purge ]; then
	rm -rf "$root/var/lib/sitewarden" "$root/etc/sitewarden/credentials.yaml" "$root/etc/sitewarden/enroll.token"
	rmdir "$root/etc/sitewarden" 2>/dev/null || true
fi
if [ -z "$root" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
