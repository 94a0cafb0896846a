//go:build !windows

package service

import "github.com/kardianos/service"

// osOptions: systemd restarts the runner when it fails.
func osOptions() service.KeyValue {
	return service.KeyValue{"Restart": "on-failure"}
}
