//go:build !linux && !windows

package pluginhost

import (
	"errors"
	"os"
	"os/exec"
)

const exeSuffix = ""

func defaultPluginDir() string { return "/usr/local/lib/sitewarden/plugins" }

func validateOS(Config) error {
	return errors.New("pluginhost: plugin containment is implemented for Linux and Windows only")
}

type pinnedBinary struct{ execPath string }

func (b *pinnedBinary) release() {}

func openPinned(_, _, _ string) (*pinnedBinary, error) { return nil, ErrUnsupported }

func containCmd(*exec.Cmd, Config) {}

type containment struct{}

func (c *containment) kill() error { return os.ErrProcessDone }
func (c *containment) release()    {}

func startContained(*exec.Cmd, Config, <-chan struct{}) (*containment, error) {
	return nil, ErrUnsupported
}

func prepareWorkDir(string, *RunAs) error { return ErrUnsupported }
