package msi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/sitewarden/sitewarden/installer/internal/testbin"
	"github.com/sitewarden/sitewarden/installer/sign"
)

// Resource types (winuser.h).
const (
	rtVersion  = 16
	rtManifest = 24
)

// peResource returns the data of the first resource of type typ in the
// PE file at path, walking the resource directory with debug/pe and the
// PE format's own layout: deliberately not winres, which wrote it, so a
// bug there cannot hide behind the same bug here.
func peResource(path string, typ uint32) ([]byte, error) {
	f, err := pe.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	oh, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok || oh.NumberOfRvaAndSizes <= pe.IMAGE_DIRECTORY_ENTRY_RESOURCE {
		return nil, fmt.Errorf("%s: not a PE32+ image with a resource directory entry", path)
	}
	dir := oh.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_RESOURCE]
	if dir.VirtualAddress == 0 || dir.Size == 0 {
		return nil, fmt.Errorf("%s has no resources", path)
	}
	var rsrc []byte
	var base uint32
	for _, s := range f.Sections {
		if dir.VirtualAddress >= s.VirtualAddress && dir.VirtualAddress < s.VirtualAddress+s.VirtualSize {
			if rsrc, err = s.Data(); err != nil {
				return nil, err
			}
			rsrc, base = rsrc[dir.VirtualAddress-s.VirtualAddress:], dir.VirtualAddress
		}
	}
	if rsrc == nil {
		return nil, fmt.Errorf("%s: no section holds the resource directory", path)
	}
	u32 := func(off uint32) (uint32, error) {
		if uint64(off)+4 > uint64(len(rsrc)) {
			return 0, fmt.Errorf("%s: resource offset %d out of range", path, off)
		}
		return binary.LittleEndian.Uint32(rsrc[off:]), nil
	}
	// entry finds, in the directory table at off, the entry with id (or
	// the first one if id is 0) and returns its offset field.
	entry := func(off, id uint32) (uint32, error) {
		if uint64(off)+16 > uint64(len(rsrc)) {
			return 0, fmt.Errorf("%s: directory at %d out of range", path, off)
		}
		n := uint32(binary.LittleEndian.Uint16(rsrc[off+12:])) + uint32(binary.LittleEndian.Uint16(rsrc[off+14:]))
		for i := range n {
			name, err := u32(off + 16 + 8*i)
			if err != nil {
				return 0, err
			}
			if id == 0 || name == id {
				return u32(off + 20 + 8*i)
			}
		}
		return 0, fmt.Errorf("%s: no resource of type %d", path, id)
	}
	off := uint32(0)
	for _, id := range []uint32{typ, 0, 0} { // type, name, language
		next, err := entry(off, id)
		if err != nil {
			return nil, err
		}
		off = next &^ 0x80000000
	}
	rva, err := u32(off)
	if err != nil {
		return nil, err
	}
	size, err := u32(off + 4)
	if err != nil {
		return nil, err
	}
	if rva < base || uint64(rva-base)+uint64(size) > uint64(len(rsrc)) {
		return nil, fmt.Errorf("%s: resource data out of range", path)
	}
	return rsrc[rva-base : rva-base+size], nil
}

// versionInfo is what a VS_VERSIONINFO holds that Windows shows and
// Windows Installer compares.
type versionInfo struct {
	FileVersion, ProductVersion string // from VS_FIXEDFILEINFO
	Strings                     map[string]string
}

// parseVersionInfo decodes a VS_VERSIONINFO: nodes of wLength,
// wValueLength, wType, a NUL-terminated UTF-16 key, padding to 32 bits,
// the value, then children, each padded to 32 bits.
func parseVersionInfo(b []byte) (versionInfo, error) {
	vi := versionInfo{Strings: map[string]string{}}
	var node func(b []byte, depth int) error
	node = func(b []byte, depth int) error {
		if len(b) < 6 || depth > 4 {
			return fmt.Errorf("truncated node at depth %d", depth)
		}
		length, valueLen, typ := int(binary.LittleEndian.Uint16(b)), int(binary.LittleEndian.Uint16(b[2:])), binary.LittleEndian.Uint16(b[4:])
		if length < 6 || length > len(b) {
			return fmt.Errorf("node length %d of %d bytes", length, len(b))
		}
		b = b[:length]
		var key []uint16
		pos := 6
		for ; pos+1 < len(b); pos += 2 {
			c := binary.LittleEndian.Uint16(b[pos:])
			if c == 0 {
				break
			}
			key = append(key, c)
		}
		pos = (pos + 2 + 3) &^ 3
		k := string(utf16.Decode(key))
		valueBytes := valueLen
		if typ == 1 {
			valueBytes *= 2 // text: wValueLength counts UTF-16 units
		}
		if pos+valueBytes > len(b) {
			return fmt.Errorf("value of %q out of range", k)
		}
		value := b[pos : pos+valueBytes]
		switch {
		case depth == 0 && k == "VS_VERSION_INFO":
			if len(value) != 52 || binary.LittleEndian.Uint32(value) != 0xFEEF04BD {
				return fmt.Errorf("VS_FIXEDFILEINFO missing or without its signature")
			}
			v := func(at int) string {
				ms, ls := binary.LittleEndian.Uint32(value[at:]), binary.LittleEndian.Uint32(value[at+4:])
				return fmt.Sprintf("%d.%d.%d.%d", ms>>16, ms&0xffff, ls>>16, ls&0xffff)
			}
			vi.FileVersion, vi.ProductVersion = v(8), v(16)
		case depth == 3:
			u := make([]uint16, 0, len(value)/2)
			for i := 0; i+1 < len(value); i += 2 {
				u = append(u, binary.LittleEndian.Uint16(value[i:]))
			}
			vi.Strings[k] = strings.TrimRight(string(utf16.Decode(u)), "\x00")
		}
		for pos = (pos + valueBytes + 3) &^ 3; pos < len(b); {
			n := int(binary.LittleEndian.Uint16(b[pos:]))
			if n == 0 {
				return fmt.Errorf("zero-length child of %q", k)
			}
			if err := node(b[pos:], depth+1); err != nil {
				return err
			}
			pos = (pos + n + 3) &^ 3
		}
		return nil
	}
	return vi, node(b, 0)
}

// extract unpacks the package at path into a new directory and returns
// the .exe files in it by file name.
func extract(t *testing.T, ctx context.Context, path string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.CommandContext(ctx, "msiextract", "-C", dir, path).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, out)
	}
	exes := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".exe") {
			exes[filepath.Base(p)] = p
		}
		return nil
	})
	return exes
}

func sums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	got := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		got[p] = sha256.Sum256(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestMSIVersionResources: every exe extracted from the built package
// carries a VERSIONINFO whose fixed and string file versions equal the
// File table's Version and the package version, the strings Windows shows,
// and a manifest; the input binaries are left as they were.
func TestMSIVersionResources(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := testbin.Windows(t)
	before := sums(t, bin)
	for _, v := range []string{"1.4.2", "v2.0.17"} {
		path := build(t, ctx, bin, v, nil)
		want := strings.TrimPrefix(v, "v") + ".0"
		files := table(t, ctx, path, "File")
		exes := extract(t, ctx, path)
		if len(files) != len(exes) || len(files) < 3 {
			t.Fatalf("File table %v, extracted %v", files, exes)
		}
		for _, r := range files {
			name := r["FileName"]
			exe, ok := exes[name]
			if !ok {
				t.Errorf("%s is in the File table but was not extracted", name)
				continue
			}
			if fi, err := os.Stat(exe); err != nil || r["FileSize"] != fmt.Sprint(fi.Size()) {
				t.Errorf("%s: File table size %s, extracted file %v (%v)", name, r["FileSize"], fi, err)
			}
			data, err := peResource(exe, rtVersion)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			vi, err := parseVersionInfo(data)
			if err != nil {
				t.Errorf("%s: version resource: %v", name, err)
				continue
			}
			if vi.FileVersion != want || vi.ProductVersion != want || r["Version"] != want {
				t.Errorf("%s: fixed file version %s, product version %s, File table %s; want %s", name, vi.FileVersion, vi.ProductVersion, r["Version"], want)
			}
			for k, v := range map[string]string{"FileVersion": want, "ProductVersion": want, "ProductName": "Sitewarden",
				"CompanyName": "Sitewarden", "OriginalFilename": name, "FileDescription": FileDescription(name), "LegalCopyright": LegalCopyright} {
				if vi.Strings[k] != v {
					t.Errorf("%s: %s = %q, want %q (all: %v)", name, k, vi.Strings[k], v, vi.Strings)
				}
			}
			m, err := peResource(exe, rtManifest)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			for _, s := range []string{`level="asInvoker"`, "{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}", "<longPathAware", ">true</longPathAware>"} {
				if !bytes.Contains(m, []byte(s)) {
					t.Errorf("%s: manifest lacks %s:\n%s", name, s, m)
				}
			}
		}
	}
	if FileDescription("plugins/sitewarden-plugin-host.exe") != "Sitewarden host plugin" || FileDescription("sitewarden-runner.exe") != "Sitewarden site runner" {
		t.Errorf("descriptions: %q %q", FileDescription("plugins/sitewarden-plugin-host.exe"), FileDescription("sitewarden-runner.exe"))
	}
	after := sums(t, bin)
	if len(after) != len(before) {
		t.Errorf("the build left files in the input directory: %d before, %d after", len(before), len(after))
	}
	for p, s := range before {
		if after[p] != s {
			t.Errorf("the build changed its input %s", p)
		}
	}
}

// TestStampRefusals: binaries stamping would damage are refused with
// what to do, before anything is written: not a PE, signed, already
// carrying resources, or with an appended payload.
func TestStampRefusals(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	host, err := os.ReadFile(filepath.Join(testbin.Windows(t), "plugins", "sitewarden-plugin-host.exe"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.exe", host)
	write("notpe.exe", []byte("MZ not really"))
	write("payload.exe", append(append([]byte{}, host...), "appended installer payload"...))
	write("twice.exe", host)
	write("signed.exe", host)
	if err := stampVersion(dir, "twice.exe", "1.0.0.0"); err != nil {
		t.Fatal(err)
	}
	cert, key := testbin.CodeSigning(t, t.TempDir(), "stamp-test")
	if err := (&sign.Signer{Cert: cert, Key: key, Description: "test"}).Sign(ctx, filepath.Join(dir, "signed.exe")); err != nil {
		t.Fatal(err)
	}
	if err := stampVersion(dir, "ok.exe", "1.0.0.0"); err != nil {
		t.Errorf("a plain Go binary: %v", err)
	}
	for name, want := range map[string]string{"notpe.exe": "not a Windows executable", "payload.exe": "after the last section",
		"twice.exe": "already has resources", "signed.exe": "already signed"} {
		orig, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		err = stampVersion(dir, name, "1.0.0.0")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming it and saying %q", name, err, want)
		}
		if now, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(now, orig) {
			t.Errorf("%s was changed by a refused stamp", name)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.stamping")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
