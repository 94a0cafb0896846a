//go:build !linux && !windows

package hostops

import "context"

func diskUsage(context.Context) (any, error) { return nil, ErrUnsupported }

func serviceStatus(context.Context, string) (any, error) { return nil, ErrUnsupported }

func restartService(context.Context, string) (any, error) { return nil, ErrUnsupported }

func topProcesses(context.Context, string, int, Config) (any, error) { return nil, ErrUnsupported }
