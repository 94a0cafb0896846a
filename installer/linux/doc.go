// Package linux builds the site runner's .deb and .rpm packages with nfpm
// (github.com/goreleaser/nfpm/v2, used as a library): the runner in
// /usr/bin, the plugins in /usr/lib/sitewarden/plugins, a hardened systemd
// unit, /etc/sitewarden/runner.yaml as a configuration file, and
// maintainer scripts that configure and enroll the site from
// /etc/default/sitewarden-runner when it is there (files/). The scripts
// honour DPKG_ROOT, so a package can be installed into a scratch root.
package linux
