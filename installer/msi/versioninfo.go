package msi

import (
	"bytes"
	"debug/pe"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
)

// What every binary's version resource says besides its version.
const (
	ProductName    = "Sitewarden"
	CompanyName    = "Sitewarden"
	LegalCopyright = "Copyright (c) Sitewarden. All rights reserved."
)

// maxBinarySize bounds what stampVersion reads into memory: the binaries
// are tens of megabytes; anything near this is not one of them.
const maxBinarySize = 512 << 20

// FileDescription is the description Windows shows for a packaged binary,
// named as the WiX source names it (plugins/sitewarden-plugin-host.exe).
func FileDescription(file string) string {
	base := strings.TrimSuffix(path.Base(file), ".exe")
	if name, ok := strings.CutPrefix(base, "sitewarden-plugin-"); ok {
		return "Sitewarden " + name + " plugin"
	}
	if base == "sitewarden-runner" {
		return "Sitewarden site runner"
	}
	return "Sitewarden " + base
}

// resources is the resource set of one binary: a VERSIONINFO whose fixed
// and string file and product versions are fileVersion (x.y.z.0), and an
// application manifest (asInvoker, Windows 10 and later, long paths).
func resources(file, fileVersion string) (*winres.ResourceSet, error) {
	vi := version.Info{Type: version.App}
	for k, v := range map[string]string{
		version.ProductName:      ProductName,
		version.CompanyName:      CompanyName,
		version.FileDescription:  FileDescription(file),
		version.OriginalFilename: path.Base(file),
		version.InternalName:     strings.TrimSuffix(path.Base(file), ".exe"),
		version.LegalCopyright:   LegalCopyright,
	} {
		if err := vi.Set(version.LangDefault, k, v); err != nil {
			return nil, fmt.Errorf("msi: version resource of %s: %w", file, err)
		}
	}
	vi.SetFileVersion(fileVersion)
	vi.SetProductVersion(fileVersion)
	rs := &winres.ResourceSet{}
	rs.SetVersionInfo(vi)
	rs.SetManifest(winres.AppManifest{Compatibility: winres.Win10AndAbove, ExecutionLevel: winres.AsInvoker, LongPathAware: true})
	return rs, nil
}

// stampVersion gives the staged binary dir/file (slash-separated) its
// version resource and manifest, in place: winres appends a .rsrc section
// and points the resource directory at it; the code and data sections are
// copied unchanged. The binary must carry no resources and no signature
// yet (the build signs after stamping).
func stampVersion(dir, file, fileVersion string) error {
	p := filepath.Join(dir, filepath.FromSlash(file))
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Size() > maxBinarySize {
		return fmt.Errorf("msi: %s is %d bytes, more than the %d a runner or plugin binary can be; check --bin", file, fi.Size(), maxBinarySize)
	}
	src, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := checkStampable(src); err != nil {
		return fmt.Errorf("msi: %s: %w", file, err)
	}
	rs, err := resources(file, fileVersion)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	out.Grow(len(src) + 4096)
	if err := rs.WriteToEXE(&out, bytes.NewReader(src)); err != nil {
		return fmt.Errorf("msi: add the version resource to %s: %w", file, err)
	}
	tmp := p + ".stamping"
	if err := os.WriteFile(tmp, out.Bytes(), fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// checkStampable refuses a binary stampVersion would damage: not a PE
// file, already signed or carrying resources, or with data after its last
// section, which winres would drop (Go keeps even its COFF symbol table in
// a .symtab section, so its binaries have none).
func checkStampable(b []byte) error {
	f, err := pe.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not a Windows executable (%w); build it with GOOS=windows ('make build')", err)
	}
	defer f.Close()
	var dirs []pe.DataDirectory
	switch h := f.OptionalHeader.(type) {
	case *pe.OptionalHeader64:
		dirs = h.DataDirectory[:min(h.NumberOfRvaAndSizes, 16)]
	case *pe.OptionalHeader32:
		dirs = h.DataDirectory[:min(h.NumberOfRvaAndSizes, 16)]
	default:
		return errors.New("no optional header; build it with GOOS=windows ('make build')")
	}
	if len(dirs) > pe.IMAGE_DIRECTORY_ENTRY_SECURITY && dirs[pe.IMAGE_DIRECTORY_ENTRY_SECURITY].Size > 0 {
		return errors.New("already signed; pass unsigned binaries: the build adds the version resource, then signs")
	}
	if len(dirs) > pe.IMAGE_DIRECTORY_ENTRY_RESOURCE && dirs[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE].Size > 0 {
		return errors.New("already has resources (a .syso?); the build writes the version resource itself: remove them")
	}
	var end int64
	for _, s := range f.Sections {
		end = max(end, int64(s.Offset)+int64(s.Size))
	}
	if n := int64(len(b)) - end; n > 0 {
		return fmt.Errorf("%d bytes after the last section (an appended payload?) would be lost; package the binaries 'make build' writes", n)
	}
	return nil
}
