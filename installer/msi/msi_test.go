package msi

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/installer/internal/testbin"
	"github.com/sitewarden/sitewarden/installer/sign"
)

func build(t *testing.T, ctx context.Context, bin, version string, s *sign.Signer) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sitewarden-runner-"+version+"-x64.msi")
	if err := Build(ctx, Config{Version: version, BinDir: bin, Out: out, Signer: s}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return out
}

func table(t *testing.T, ctx context.Context, path, name string) []Row {
	t.Helper()
	rows, err := ReadTable(ctx, path, name)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func find(rows []Row, col, val string) Row {
	for _, r := range rows {
		if r[col] == val {
			return r
		}
	}
	return nil
}

func seq(t *testing.T, rows []Row, action string) int {
	t.Helper()
	r := find(rows, "Action", action)
	if r == nil {
		t.Fatalf("InstallExecuteSequence has no %s", action)
	}
	n, err := strconv.Atoi(r["Sequence"])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMSITables builds the MSI from the real Windows binaries with wixl
// and reads its tables back with msiinfo.
func TestMSITables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := testbin.Windows(t)
	path := build(t, ctx, bin, "1.4.2", nil)

	t.Run("ServiceInstall", func(t *testing.T) {
		rows := table(t, ctx, path, "ServiceInstall")
		if len(rows) != 1 {
			t.Fatalf("ServiceInstall rows: %v", rows)
		}
		r := rows[0]
		// 16: own process; 2: automatic start; 1: normal error control;
		// no StartName: LocalSystem.
		if r["Name"] != "sitewarden-runner" || r["ServiceType"] != "16" || r["StartType"] != "2" || r["ErrorControl"] != "1" || r["StartName"] != "" || r["Component_"] != "Runner" {
			t.Errorf("ServiceInstall: %v", r)
		}
		if r["Arguments"] != `run --config "[DATADIR]config.yaml"` {
			t.Errorf("service arguments %q: the settings belong in the config file", r["Arguments"])
		}
	})
	t.Run("ServiceControl", func(t *testing.T) {
		rows := table(t, ctx, path, "ServiceControl")
		if len(rows) != 1 {
			t.Fatalf("ServiceControl rows: %v", rows)
		}
		// 0x1 start on install, 0x2 stop on install (upgrade, repair),
		// 0x20 stop on uninstall, 0x80 delete on uninstall.
		if r := rows[0]; r["Name"] != "sitewarden-runner" || r["Event"] != strconv.Itoa(0x1|0x2|0x20|0x80) || r["Wait"] != "1" {
			t.Errorf("ServiceControl: %v", r)
		}
	})
	t.Run("Property", func(t *testing.T) {
		rows := table(t, ctx, path, "Property")
		want := map[string]string{"ProductVersion": "1.4.2", "UpgradeCode": UpgradeCode, "ALLUSERS": "1",
			"ProductName": "Sitewarden Runner", "Manufacturer": "Sitewarden", "MsiHiddenProperties": "ENROLL_TOKEN"}
		for k, v := range want {
			if r := find(rows, "Property", k); r == nil || r["Value"] != v {
				t.Errorf("Property %s = %v, want %s", k, r, v)
			}
		}
		secure := find(rows, "Property", "SecureCustomProperties")
		for _, p := range append(SecureProperties, "WIX_UPGRADE_DETECTED") {
			if secure == nil || !strings.Contains(";"+secure["Value"]+";", ";"+p+";") {
				t.Errorf("SecureCustomProperties %v lacks %s", secure, p)
			}
		}
		if pc := find(rows, "Property", "ProductCode"); pc == nil || len(pc["Value"]) != 38 {
			t.Errorf("ProductCode: %v", pc)
		}
	})
	t.Run("File", func(t *testing.T) {
		rows := table(t, ctx, path, "File")
		binaries, _ := filepath.Glob(filepath.Join(bin, "plugins", "*.exe"))
		binaries = append(binaries, filepath.Join(bin, "sitewarden-runner.exe"))
		if len(rows) != len(binaries) {
			t.Errorf("File has %d rows for %d binaries: %v", len(rows), len(binaries), rows)
		}
		for _, b := range binaries {
			fi, err := os.Stat(b)
			if err != nil {
				t.Fatal(err)
			}
			r := find(rows, "FileName", filepath.Base(b))
			if r == nil {
				t.Errorf("%s is not in the File table", filepath.Base(b))
				continue
			}
			// The packaged binary is the input plus its version resource
			// (TestMSIVersionResources checks the packaged file's size).
			if size, _ := strconv.ParseInt(r["FileSize"], 10, 64); r["Version"] != "1.4.2.0" || size <= fi.Size() {
				t.Errorf("File %s: %v (input size %d)", filepath.Base(b), r, fi.Size())
			}
		}
		if hashes := table(t, ctx, path, "MsiFileHash"); len(hashes) != 0 {
			t.Errorf("versioned files keep hashes: %v", hashes)
		}
	})
	t.Run("Directory", func(t *testing.T) {
		rows := table(t, ctx, path, "Directory")
		for dir, parent := range map[string]string{"INSTALLDIR": "ProgramFiles64Folder", "PLUGINDIR": "INSTALLDIR", "DATADIR": "CommonAppDataFolder"} {
			if r := find(rows, "Directory", dir); r == nil || r["Directory_Parent"] != parent {
				t.Errorf("Directory %s: %v, want under %s", dir, r, parent)
			}
		}
		for _, c := range table(t, ctx, path, "Component") {
			if n, _ := strconv.Atoi(c["Attributes"]); n&256 == 0 {
				t.Errorf("component %s is not 64-bit: %v", c["Component"], c)
			}
		}
		acl := find(table(t, ctx, path, "MsiLockPermissionsEx"), "LockObject", "DATADIR")
		if acl == nil || acl["SDDLText"] != DataDirSDDL || acl["Table"] != "CreateFolder" {
			t.Errorf("data directory ACL: %v", acl)
		}
	})
	t.Run("Upgrade", func(t *testing.T) {
		rows := table(t, ctx, path, "Upgrade")
		up, down := find(rows, "ActionProperty", "WIX_UPGRADE_DETECTED"), find(rows, "ActionProperty", "WIX_DOWNGRADE_DETECTED")
		if up == nil || up["UpgradeCode"] != UpgradeCode || up["VersionMax"] != "1.4.2" || up["VersionMin"] != "" {
			t.Errorf("upgrade row: %v", up)
		}
		// 2: msidbUpgradeAttributesOnlyDetect, for the downgrade check.
		if down == nil || down["VersionMin"] != "1.4.2" || down["Attributes"] != "2" {
			t.Errorf("downgrade row: %v", down)
		}
		if lc := table(t, ctx, path, "LaunchCondition"); find(lc, "Condition", "NOT WIX_DOWNGRADE_DETECTED") == nil {
			t.Errorf("no downgrade launch condition: %v", lc)
		}
	})
	t.Run("Sequence", func(t *testing.T) {
		rows := table(t, ctx, path, "InstallExecuteSequence")
		order := func(a, b string) {
			if seq(t, rows, a) >= seq(t, rows, b) {
				t.Errorf("%s (%d) does not run before %s (%d)", a, seq(t, rows, a), b, seq(t, rows, b))
			}
		}
		order("InstallInitialize", "RemoveExistingProducts")
		order("RemoveExistingProducts", "ProcessComponents")
		order("DeleteServices", "PurgeData")
		order("PurgeData", "RemoveFiles")
		order("InstallServices", "ConfigureRunner")
		order("InstallFiles", "ConfigureRunner")
		order("ConfigureRunner", "StartServices")
		if c := find(rows, "Action", "PurgeData")["Condition"]; c != `REMOVE~="ALL" AND PURGE="1" AND NOT UPGRADINGPRODUCTCODE` {
			t.Errorf("PurgeData condition %q", c)
		}
		if c := find(rows, "Action", "ConfigureRunner")["Condition"]; c != `NOT REMOVE~="ALL"` {
			t.Errorf("ConfigureRunner condition %q", c)
		}
	})
	t.Run("CustomAction", func(t *testing.T) {
		rows := table(t, ctx, path, "CustomAction")
		cfg := find(rows, "Action", "ConfigureRunner")
		if cfg == nil {
			t.Fatal("no ConfigureRunner action")
		}
		typ, _ := strconv.Atoi(cfg["Type"])
		// 18: run an installed exe; 0x400 deferred; 0x800 no impersonation
		// (LocalSystem); 0x2000 hide the command line from the log.
		if typ&0x3f != 18 || typ&0x400 == 0 || typ&0x800 == 0 || typ&hideTarget == 0 || cfg["Source"] != "RunnerExe" {
			t.Errorf("ConfigureRunner: %v", cfg)
		}
		for _, p := range []string{`--control-plane "[CONTROL_PLANE]"`, `--token "[ENROLL_TOKEN]"`, `--proxy "[PROXY]"`, `--log-level "[LOG_LEVEL]"`,
			`--site-name "[SITE_NAME]"`, `--config "[DATADIR]config.yaml"`, `--plugin-dir "[PLUGINDIR]."`, "--service-recovery"} {
			if !strings.Contains(cfg["Target"], p) {
				t.Errorf("ConfigureRunner command line lacks %s: %s", p, cfg["Target"])
			}
		}
		purge := find(rows, "Action", "PurgeData")
		if typ, _ := strconv.Atoi(purge["Type"]); purge == nil || typ&0x400 == 0 || typ&0x800 == 0 || typ&0x40 == 0 || !strings.HasPrefix(purge["Target"], "purge --yes") {
			// 0x40: return ignored, so a failed purge cannot block an uninstall.
			t.Errorf("PurgeData: %v", purge)
		}
	})
	t.Run("Registry", func(t *testing.T) {
		rows := table(t, ctx, path, "Registry")
		want := map[string]string{"EventMessageFile": "#%%SystemRoot%\\System32\\EventCreate.exe", "TypesSupported": "#7", "CustomSource": "#1"}
		for name, v := range want {
			r := find(rows, "Name", name)
			// Root 2: HKLM.
			if r == nil || r["Value"] != v || r["Root"] != "2" || r["Component_"] != "Runner" ||
				!strings.HasPrefix(r["Key"], `SYSTEM\CurrentControlSet\Services\EventLog\Application\sitewarden-runner`) {
				t.Errorf("event log source value %s: %v, want %s", name, r, v)
			}
		}
	})
	t.Run("Summary", func(t *testing.T) {
		out, err := exec.CommandContext(ctx, "msiinfo", "suminfo", path).CombinedOutput()
		if err != nil {
			t.Fatal(err, string(out))
		}
		if !strings.Contains(string(out), "x64;1033") {
			t.Errorf("summary is not x64:\n%s", out)
		}
	})
}

// TestMSIUpgradeIdentity: two versions share the UpgradeCode and differ
// in ProductCode, which is what makes the newer one a major upgrade.
func TestMSIUpgradeIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := testbin.Windows(t)
	props := func(path string) (string, string, string) {
		rows := table(t, ctx, path, "Property")
		return find(rows, "Property", "UpgradeCode")["Value"], find(rows, "Property", "ProductCode")["Value"], find(rows, "Property", "ProductVersion")["Value"]
	}
	u1, p1, v1 := props(build(t, ctx, bin, "1.4.2", nil))
	u2, p2, v2 := props(build(t, ctx, bin, "v1.5.0", nil))
	if u1 != UpgradeCode || u2 != UpgradeCode || p1 == p2 || v1 != "1.4.2" || v2 != "1.5.0" {
		t.Errorf("1.4.2: %s %s %s; 1.5.0: %s %s %s", u1, p1, v1, u2, p2, v2)
	}
}

// TestMSISigned: with a signer, every binary inside the package and the
// package itself carry an Authenticode signature that osslsigncode
// verifies against the certificate made here; an unsigned build does not
// verify.
func TestMSISigned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := testbin.Windows(t)
	dir := t.TempDir()
	cert, key := testbin.CodeSigning(t, dir, "sitewarden-test")
	path := build(t, ctx, bin, "1.4.2", &sign.Signer{Cert: cert, Key: key, Description: "Sitewarden site runner"})
	if err := sign.Verify(ctx, path, cert); err != nil {
		t.Errorf("signed MSI: %v", err)
	}
	files := filepath.Join(dir, "extracted")
	if out, err := exec.CommandContext(ctx, "msiextract", "-C", files, path).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, out)
	}
	var exes []string
	_ = filepath.WalkDir(files, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".exe") {
			exes = append(exes, p)
		}
		return nil
	})
	if len(exes) != len(table(t, ctx, path, "File")) {
		t.Errorf("extracted %v", exes)
	}
	for _, exe := range exes {
		if err := sign.Verify(ctx, exe, cert); err != nil {
			t.Errorf("%s inside the MSI: %v", filepath.Base(exe), err)
		}
		// Signed after the version resource was added: it is still there.
		if data, err := peResource(exe, rtVersion); err != nil {
			t.Errorf("signed %s: %v", filepath.Base(exe), err)
		} else if vi, err := parseVersionInfo(data); err != nil || vi.FileVersion != "1.4.2.0" {
			t.Errorf("signed %s: version %+v, %v", filepath.Base(exe), vi, err)
		}
	}
	unsigned := build(t, ctx, bin, "1.4.2", nil)
	if err := sign.Verify(ctx, unsigned, cert); err == nil {
		t.Error("an unsigned MSI verified")
	}
}

// TestMSIRefusals: versions Windows Installer cannot take, a plugin left
// out of the WiX source, and a missing runner are errors before wixl runs.
func TestMSIRefusals(t *testing.T) {
	for v, ok := range map[string]bool{"1.4.2": true, "v0.1.0": true, "255.255.65535": true, "1.4": false, "256.0.0": false,
		"1.256.0": false, "1.0.65536": false, "c1f8a1c-dirty": false, "1.4.2-rc1": false} {
		if _, err := ProductVersion(v); (err == nil) != ok {
			t.Errorf("ProductVersion(%q): %v", v, err)
		}
	}
	bin := t.TempDir()
	if err := os.MkdirAll(filepath.Join(bin, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"sitewarden-runner.exe", "plugins/sitewarden-plugin-host.exe", "plugins/sitewarden-plugin-directory.exe", "plugins/sitewarden-plugin-new.exe"} {
		if err := os.WriteFile(filepath.Join(bin, f), []byte("MZ"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := Build(context.Background(), Config{Version: "1.0.0", BinDir: bin, Out: filepath.Join(t.TempDir(), "x.msi")}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "sitewarden-plugin-new.exe") {
		t.Errorf("unlisted plugin: %v", err)
	}
	err = Build(context.Background(), Config{Version: "1.0.0", BinDir: t.TempDir(), Out: "x.msi"}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("missing runner: %v", err)
	}
}

// windowsArgs splits a command line the way Windows programs do for the
// cases the MSI uses: spaces separate, double quotes group.
func windowsArgs(s string) []string {
	var args []string
	var cur strings.Builder
	quoted, started := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started {
				args = append(args, cur.String())
				cur.Reset()
				started = false
			}
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		args = append(args, cur.String())
	}
	return args
}

// TestMSICommandLinesRunOnTheRunner: the configure and purge command
// lines stored in the MSI, with the properties filled in as Windows
// Installer would, are accepted by the real runner binary and do what the
// package promises: settings into config.yaml, the token into its own
// file, nothing into the service's arguments; purge deletes it all. (The
// Linux build of the runner stands in for the Windows one: the command
// line code is the same; --service-recovery is Windows-only and dropped.)
func TestMSICommandLinesRunOnTheRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	path := build(t, ctx, testbin.Windows(t), "1.4.2", nil)
	runner := filepath.Join(testbin.Linux(t), "sitewarden-runner")
	data := filepath.Join(t.TempDir(), "Sitewarden")
	plugins := filepath.Join(t.TempDir(), "Sitewarden", "plugins")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	// What the Windows defaults are, written out for this machine's paths.
	if err := os.WriteFile(filepath.Join(data, "config.yaml"), []byte("state_dir: "+filepath.Join(data, "state")+"\nenroll_token_file: "+filepath.Join(data, "enroll.token")+"\ncredentials_file: "+filepath.Join(data, "credentials.yaml")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "swt1_placeholder-token"
	props := strings.NewReplacer("[DATADIR]", data+"/", "[PLUGINDIR]", plugins+"/", "[CONTROL_PLANE]", "cp.example.com:7443",
		"[ENROLL_TOKEN]", token, "[PROXY]", "", "[LOG_LEVEL]", "warn", "[SITE_NAME]", "front-desk")
	actions := table(t, ctx, path, "CustomAction")
	var args []string
	for _, a := range windowsArgs(props.Replace(find(actions, "Action", "ConfigureRunner")["Target"])) {
		if a != "--service-recovery" {
			args = append(args, a)
		}
	}
	out, err := exec.CommandContext(ctx, runner, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("configure %v: %v\n%s", args, err, out)
	}
	if strings.Contains(string(out), token) {
		t.Errorf("configure printed the token:\n%s", out)
	}
	cfg, err := os.ReadFile(filepath.Join(data, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"control_plane: cp.example.com:7443", "log_level: warn", "site_name: front-desk", "plugin_dir: " + plugins + "\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.yaml lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(string(cfg), "proxy") || strings.Contains(string(cfg), token) {
		t.Errorf("config.yaml has an empty proxy or the token:\n%s", cfg)
	}
	if b, err := os.ReadFile(filepath.Join(data, "enroll.token")); err != nil || strings.TrimSpace(string(b)) != token {
		t.Errorf("token file: %q %v", b, err)
	}
	purge := windowsArgs(props.Replace(find(actions, "Action", "PurgeData")["Target"]))
	if out, err := exec.CommandContext(ctx, runner, purge...).CombinedOutput(); err != nil {
		t.Fatalf("purge %v: %v\n%s", purge, err, out)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(data)
		t.Errorf("purge left the data directory: %v", entries)
	}
}
