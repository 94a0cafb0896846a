// Package cli is the installer builder's command line: 'msi', 'deb' and
// 'rpm' subcommands that map flags and the signing environment onto
// installer/msi and installer/linux.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/sitewarden/sitewarden/installer/linux"
	"github.com/sitewarden/sitewarden/installer/msi"
	"github.com/sitewarden/sitewarden/installer/sign"
)

const usage = `usage: installer msi --version X.Y.Z [--bin bin/windows] [--out FILE]
       installer deb|rpm --version X.Y.Z [--bin bin] [--out FILE]

msi signs the binaries and the package when SITEWARDEN_SIGN_CERT and
SITEWARDEN_SIGN_KEY are set (SITEWARDEN_SIGN_PASS_FILE,
SITEWARDEN_SIGN_TIMESTAMP_URL optional); see docs/deploy.md.`

// Run runs the command line args and returns the exit code: 0, 1 on a
// failed build, 2 on a usage error.
func Run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	kind := args[0]
	fs := flag.NewFlagSet(kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	version := fs.String("version", "", "package version, X.Y.Z")
	bin := fs.String("bin", "", "directory of the built binaries (default bin/windows for msi, bin otherwise)")
	out := fs.String("out", "", "package file to write (default under dist/)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch kind {
	case "msi":
		err = buildMSI(ctx, *version, or(*bin, filepath.Join("bin", "windows")), *out, getenv, log)
	case "deb", "rpm":
		err = buildLinux(ctx, kind, *version, or(*bin, "bin"), *out, log)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "installer %s: %v\n", kind, err)
		return 1
	}
	return 0
}

func buildMSI(ctx context.Context, version, bin, out string, getenv func(string) string, log *slog.Logger) error {
	signer, err := sign.FromEnv(getenv)
	if err != nil {
		return err
	}
	if signer == nil {
		log.Warn("unsigned build: set SITEWARDEN_SIGN_CERT and SITEWARDEN_SIGN_KEY to sign")
	}
	if out == "" {
		out = filepath.Join("dist", "sitewarden-runner-"+version+"-x64.msi")
	}
	return msi.Build(ctx, msi.Config{Version: version, BinDir: bin, Out: out, Signer: signer}, log)
}

func buildLinux(ctx context.Context, format, version, bin, out string, log *slog.Logger) error {
	if version == "" {
		return errors.New("give --version X.Y.Z")
	}
	if out == "" {
		switch format {
		case "deb":
			out = filepath.Join("dist", "sitewarden-runner_"+version+"_amd64.deb")
		default:
			out = filepath.Join("dist", "sitewarden-runner-"+version+"-1.x86_64.rpm")
		}
	}
	return linux.Build(ctx, linux.Config{Format: format, Version: version, BinDir: bin, Out: out}, log)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
