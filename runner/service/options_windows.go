package service

import "github.com/kardianos/service"

// osOptions: the SCM starts the runner at boot and restarts it 5 s after a
// failure (recovery actions); the failure count resets after a day.
func osOptions() service.KeyValue {
	return service.KeyValue{
		"StartType":              "automatic",
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "5s",
		"OnFailureResetPeriod":   86400,
	}
}
