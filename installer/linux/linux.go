package linux

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

//go:embed files
var assets embed.FS

// Paths on the installed system.
const (
	RunnerPath = "/usr/bin/sitewarden-runner"
	PluginDir  = "/usr/lib/sitewarden/plugins"
	UnitPath   = "/usr/lib/systemd/system/sitewarden-runner.service"
	ConfigPath = "/etc/sitewarden/runner.yaml"
	// DefaultsPath is where an RMM tool leaves SITEWARDEN_CONTROL_PLANE,
	// SITEWARDEN_ENROLL_TOKEN, SITEWARDEN_PROXY, SITEWARDEN_LOG_LEVEL and
	// SITEWARDEN_SITE_NAME (the site a fleet token enrolls; empty: the
	// host name) before installing the package.
	DefaultsPath = "/etc/default/sitewarden-runner"
	StateDir     = "/var/lib/sitewarden"
)

// Formats are the package formats Build makes.
var Formats = []string{"deb", "rpm"}

// Config describes one build.
type Config struct {
	// Format is deb or rpm.
	Format string
	// Version is major.minor.patch (a leading "v" is dropped).
	Version string
	// BinDir holds sitewarden-runner and plugins/sitewarden-plugin-*
	// (linux/amd64).
	BinDir string
	// Out is the package file to write.
	Out string
	// MTime stamps every file (zero: now), for reproducible builds.
	MTime time.Time
}

var versionRE = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)$`)

// Validate checks c.
func (c Config) Validate() error {
	if c.Format != "deb" && c.Format != "rpm" {
		return fmt.Errorf("linux: format %q: use deb or rpm", c.Format)
	}
	if !versionRE.MatchString(c.Version) {
		return fmt.Errorf("linux: version %q: use major.minor.patch, e.g. 'make deb VERSION=1.4.0'", c.Version)
	}
	if c.Out == "" {
		return errors.New("linux: no output file")
	}
	if _, err := os.Stat(filepath.Join(c.BinDir, "sitewarden-runner")); err != nil {
		return fmt.Errorf("linux: %w; run 'make build' first", err)
	}
	return nil
}

// Build writes the package c describes.
func Build(_ context.Context, c Config, log *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "sitewarden-nfpm-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	if err := os.CopyFS(stage, assets); err != nil {
		return fmt.Errorf("linux: stage package files: %w", err)
	}
	asset := func(name string) string { return filepath.Join(stage, "files", name) }
	plugins, err := filepath.Glob(filepath.Join(c.BinDir, "plugins", "sitewarden-plugin-*"))
	if err != nil {
		return err
	}
	if len(plugins) == 0 {
		return fmt.Errorf("linux: no plugins in %s; run 'make build' first", filepath.Join(c.BinDir, "plugins"))
	}
	sort.Strings(plugins)
	exe := &files.ContentFileInfo{Mode: 0o755}
	contents := files.Contents{
		{Source: filepath.Join(c.BinDir, "sitewarden-runner"), Destination: RunnerPath, FileInfo: exe},
		{Source: asset("sitewarden-runner.service"), Destination: UnitPath, FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: asset("runner.yaml"), Destination: ConfigPath, Type: files.TypeConfigNoReplace, FileInfo: &files.ContentFileInfo{Mode: 0o600}},
		{Destination: "/etc/sitewarden", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o755}},
	}
	for _, p := range plugins {
		contents = append(contents, &files.Content{Source: p, Destination: PluginDir + "/" + filepath.Base(p), FileInfo: exe})
	}
	mtime := c.MTime
	if mtime.IsZero() {
		mtime = time.Now().UTC().Truncate(time.Second)
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name:        "sitewarden-runner",
		Arch:        "amd64",
		Platform:    "linux",
		Version:     versionRE.FindStringSubmatch(c.Version)[1],
		Release:     "1",
		Section:     "admin",
		Priority:    "optional",
		Maintainer:  "Sitewarden <packages@sitewarden.example>",
		Vendor:      "Sitewarden",
		Homepage:    "https://sitewarden.example/",
		License:     "Proprietary",
		Description: "Sitewarden site runner: bounded, supervised agents at a client site",
		MTime:       mtime,
		Overridables: nfpm.Overridables{
			Depends:  []string{"libc6"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: asset("postinst.sh"),
				PreRemove:   asset("prerm.sh"),
				PostRemove:  asset("postrm.sh"),
			},
			RPM: nfpm.RPM{Group: "System Environment/Daemons"},
		},
	})
	if c.Format == "rpm" {
		info.Depends = []string{"glibc"}
	}
	if err := nfpm.PrepareForPackager(info, c.Format); err != nil {
		return fmt.Errorf("linux: %w", err)
	}
	var pkgr nfpm.Packager = deb.Default
	if c.Format == "rpm" {
		pkgr = rpm.DefaultRPM
	}
	if err := os.MkdirAll(filepath.Dir(c.Out), 0o755); err != nil {
		return err
	}
	tmp := c.Out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := pkgr.Package(info, f); err != nil {
		f.Close()
		return fmt.Errorf("linux: %s: %w", c.Format, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.Out); err != nil {
		return err
	}
	log.Info("built the package", "file", c.Out, "format", c.Format, "version", info.Version, "plugins", len(plugins))
	return nil
}

// Asset returns one of the package's files (files/NAME) as shipped.
func Asset(name string) ([]byte, error) { return fs.ReadFile(assets, "files/"+name) }
