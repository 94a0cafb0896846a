// Command sitewarden-plugin-host is the machine-care action plugin: disk
// usage, old-file cleanup, service status and restart, top processes. The
// runner starts it through runner/pluginhost; run by hand it refuses.
package main

import (
	"github.com/sitewarden/sitewarden/plugins/host/hostops"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

func main() { sdk.Serve(hostops.New(hostops.DefaultConfig())) }
