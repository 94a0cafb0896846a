package msi

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/installer/sign"
)

// Source is the WiX source of the package.
//
//go:embed sitewarden-runner.wxs
var Source []byte

// UpgradeCode identifies the product across versions; the WiX source
// holds it and must never change it.
const UpgradeCode = "{CA32172A-B454-4E7F-A73E-39F87A371513}"

// toolTimeout bounds one wixl, msibuild or msiinfo run.
const toolTimeout = 5 * time.Minute

// Config describes one build.
type Config struct {
	// Version is the product version, major.minor.build (each a number;
	// major and minor below 256, build below 65536: Windows Installer's
	// limits). A leading "v" is dropped.
	Version string
	// BinDir holds sitewarden-runner.exe and plugins/*.exe.
	BinDir string
	// Out is the package to write.
	Out string
	// Signer signs every .exe and the package (nil: unsigned).
	Signer *sign.Signer
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)\.(\d+)$`)

// ProductVersion returns v as Windows Installer's ProductVersion.
func ProductVersion(v string) (string, error) {
	m := versionRE.FindStringSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("msi: version %q: use major.minor.build, e.g. 'make msi VERSION=1.4.0'", v)
	}
	for i, limit := range []int{255, 255, 65535} {
		if n, _ := strconv.Atoi(m[i+1]); n > limit {
			return "", fmt.Errorf("msi: version %q: part %d is %d, Windows Installer allows up to %d", v, i+1, n, limit)
		}
	}
	return m[1] + "." + m[2] + "." + m[3], nil
}

// Validate checks c.
func (c Config) Validate() error {
	if _, err := ProductVersion(c.Version); err != nil {
		return err
	}
	if c.Out == "" {
		return errors.New("msi: no output file")
	}
	if _, err := os.Stat(filepath.Join(c.BinDir, "sitewarden-runner.exe")); err != nil {
		return fmt.Errorf("msi: %w; run 'make build' first", err)
	}
	if c.Signer != nil {
		return c.Signer.Validate()
	}
	return nil
}

// Build writes the package c describes.
func Build(ctx context.Context, c Config, log *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	version, _ := ProductVersion(c.Version)
	stage, err := os.MkdirTemp("", "sitewarden-msi-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)
	files, err := stageBinaries(c.BinDir, stage)
	if err != nil {
		return err
	}
	if err := checkSourceNames(files); err != nil {
		return err
	}
	for _, f := range files {
		if err := stampVersion(stage, f, version+".0"); err != nil {
			return err
		}
	}
	if c.Signer != nil {
		for _, f := range files {
			if err := c.Signer.Sign(ctx, filepath.Join(stage, f)); err != nil {
				return err
			}
		}
		log.Info("signed the binaries", "count", len(files))
	}
	if err := os.WriteFile(filepath.Join(stage, "sitewarden-runner.wxs"), Source, 0o644); err != nil {
		return err
	}
	tmp := filepath.Join(stage, "out.msi")
	out, err := tool(ctx, stage, "wixl", "-a", "x64", "-D", "Version="+version, "-o", tmp, "sitewarden-runner.wxs")
	if err != nil {
		return err
	}
	// wixl only warns about attributes it does not know and then leaves
	// them out: refuse, so the source never says more than the package does.
	if strings.Contains(out, "WARNING") || strings.Contains(out, "CRITICAL") {
		return fmt.Errorf("msi: wixl ignored part of sitewarden-runner.wxs:\n%s", out)
	}
	if err := postProcess(ctx, stage, tmp, version); err != nil {
		return err
	}
	if c.Signer != nil {
		if err := c.Signer.Sign(ctx, tmp); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(c.Out), 0o755); err != nil {
		return err
	}
	if err := copyFile(tmp, c.Out); err != nil {
		return err
	}
	log.Info("built the MSI", "file", c.Out, "version", version, "signed", c.Signer != nil, "binaries", len(files))
	return nil
}

// stageBinaries copies the runner and every plugin into stage and returns
// their paths relative to it (slash-separated, as the WiX source names them).
func stageBinaries(bin, stage string) ([]string, error) {
	files := []string{"sitewarden-runner.exe"}
	plugins, err := filepath.Glob(filepath.Join(bin, "plugins", "*.exe"))
	if err != nil {
		return nil, err
	}
	if len(plugins) == 0 {
		return nil, fmt.Errorf("msi: no plugins in %s; run 'make build' first", filepath.Join(bin, "plugins"))
	}
	for _, p := range plugins {
		files = append(files, "plugins/"+filepath.Base(p))
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Join(stage, filepath.Dir(f)), 0o755); err != nil {
			return nil, err
		}
		if err := copyFile(filepath.Join(bin, f), filepath.Join(stage, f)); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// checkSourceNames fails when a staged binary is not in the WiX source, so
// a new plugin cannot be left out of the package unseen (wixl itself fails
// on a source file that is missing).
func checkSourceNames(files []string) error {
	var missing []string
	for _, f := range files {
		if !bytes.Contains(Source, []byte(`Source="`+f+`"`)) {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("msi: %v are built but not in installer/msi/sitewarden-runner.wxs; add a Component and a ComponentRef for each", missing)
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// tool runs name in dir and returns its combined output.
func tool(ctx context.Context, dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return "", fmt.Errorf("msi: %s not found; install wixl and msitools ('make deps')", name)
		}
		return "", fmt.Errorf("msi: %s: %w\n%s", name, err, out.String())
	}
	return out.String(), nil
}

// Row is one table row: column name -> value.
type Row map[string]string

// ReadTable reads table from the package at path with msiinfo. A table the
// package lacks is an error.
func ReadTable(ctx context.Context, path, table string) ([]Row, error) {
	out, err := tool(ctx, "", "msiinfo", "export", path, table)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(out, "\r\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("msi: table %s: unexpected msiinfo output %q", table, out)
	}
	cols := strings.Split(strings.TrimRight(lines[0], "\r"), "\t")
	var rows []Row
	for _, l := range lines[3:] {
		vals := strings.Split(strings.TrimRight(l, "\r"), "\t")
		r := Row{}
		for i, c := range cols {
			if i < len(vals) {
				r[c] = vals[i]
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// Tables lists the tables of the package at path.
func Tables(ctx context.Context, path string) ([]string, error) {
	out, err := tool(ctx, "", "msiinfo", "tables", path)
	if err != nil {
		return nil, err
	}
	names := strings.Fields(out)
	slices.Sort(names)
	return names, nil
}
