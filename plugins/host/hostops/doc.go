// Package hostops implements the "host" action plugin: machine care at a
// site. Operations:
//
//   - host.disk_usage: size and free space of every mounted volume (Linux:
//     /proc/self/mounts + statfs, pseudo file systems left out; Windows:
//     every logical drive);
//   - host.cleanup: delete regular files older than N days under the roots
//     given in the params (the scope's policy decides which roots a goal may
//     name), never following a symlink or junction, every path resolved
//     through an os.Root per root so nothing outside the root can be
//     reached even if the tree changes during the walk; dry_run reports what
//     would go and how many bytes;
//   - host.service_status and host.restart_service: systemd (systemctl) on
//     Linux, the Service Control Manager on Windows;
//   - host.top_processes: the processes using the most CPU (sampled over a
//     short interval) or memory.
//
// Every walk and listing is bounded (Config).
package hostops
