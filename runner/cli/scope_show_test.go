package cli

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/policies/packs"
	"github.com/sitewarden/sitewarden/runner/enroll"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// enrollSite writes what a real enrollment leaves in stateDir (site key and
// certificate naming tenant/client/site, the pinned CA, enrollment.json,
// the control plane's scope key) and returns the scope-signing private key
// the control plane would publish with. The runner's packages may not
// import the control plane (DESIGN.md), so the files are written here in
// the format enroll.Load reads; the test checks enroll.Load accepts them.
func enrollSite(t *testing.T, stateDir, client, site string) ed25519.PrivateKey {
	t.Helper()
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	siteKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: site},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		URIs:        []*url.URL{{Scheme: "sitewarden", Host: "tenant1", Path: "/" + client + "/" + site}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &siteKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(siteKey)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	meta, _ := json.Marshal(map[string]string{"control_plane": "127.0.0.1:1", "ca_pin": enroll.PinOf(ca)})
	for name, data := range map[string][]byte{
		enroll.CAFile:         pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		enroll.CertFile:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		enroll.KeyFile:        pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		enroll.EnrollmentFile: meta,
		enroll.ScopeKeyFile:   []byte(base64.StdEncoding.EncodeToString(pub) + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(stateDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	creds, err := enroll.Load(stateDir)
	if err != nil || creds.Identity.Client != client || !creds.ScopeKey.Equal(pub) {
		t.Fatalf("enroll.Load of the test enrollment = %+v, %v", creds.Identity, err)
	}
	return priv
}

// publishScope compiles srcs, signs them as bundle version with key (as the
// control plane publishes), and hands the bundle to the site's scope cache
// the way the sync client does when it fetches one (ScopeCache.Offer, as
// of issued, which writes <state>/scope/scope.pb).
func publishScope(t *testing.T, stateDir, client string, key ed25519.PrivateKey, version uint64, issued time.Time, srcs ...policies.Source) *policies.Scope {
	t.Helper()
	s, err := policies.Compile(policies.DefaultConfig(), srcs...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := policies.NewBundle(s, version, issued, key)
	if err != nil {
		t.Fatal(err)
	}
	cache, err := rsync.OpenScopeCache(filepath.Join(stateDir, "scope"), key.Public().(ed25519.PublicKey), client,
		func() time.Time { return issued.Add(time.Minute) })
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Offer(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return s
}

// pack returns a reference policy pack as a source.
func pack(t *testing.T, name string) policies.Source {
	t.Helper()
	data, err := packs.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return policies.Source{Name: name, Data: data}
}

// writeConfig writes a runner config file naming stateDir and pluginDir.
func writeConfig(t *testing.T, dir, stateDir, pluginDir, credsFile string) string {
	t.Helper()
	file := filepath.Join(dir, "config.yaml")
	body := "state_dir: " + stateDir + "\ncredentials_file: " + credsFile + "\n"
	if pluginDir != "" {
		body += "plugin_dir: " + pluginDir + "\n"
	}
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestScopeShow(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	key := enrollSite(t, state, "example", "hq")
	issued := time.Now().Add(-time.Hour).Truncate(time.Second)
	publishScope(t, state, "example", key, 3, issued, pack(t, "account.yaml"))
	cfg := writeConfig(t, dir, state, "", filepath.Join(dir, "credentials.yaml"))

	code, out, errs := run(t, "scope", "show", "--config", cfg)
	if code != 0 {
		t.Fatalf("scope show: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"scope of client example, version 3 (site hq)",
		"issued   " + fmtUTC(issued),
		"expires  " + fmtUTC(issued.Add(7*24*time.Hour)) + ": valid offline until then (6d 23h",
		"account-helper: Unlocks accounts and resets passwords of ordinary staff.",
		"workflow account_unlock: autonomous; budget 8 steps, 6 actions, 5m",
		"may run: directory.find_user, directory.get_account_status, directory.list_groups, directory.unlock_account, directory.verify_credentials",
		"deny  never-privileged-accounts: never touch members of privileged groups",
		"actions  directory.unlock_account, directory.reset_password\n",
		"allow unlock-the-goal-user: unlock the account the goal names\n          actions  directory.unlock_account (workflows account_unlock only)",
		"when     has(goal.user) && has(target.login) && target.login.equalsIgnoreCase(goal.user)",
		"approval required",
		"data directory: disabled, display_name, dn, groups,",
		"directory    0.1.0    sha256 1f0c3a6e5b2d4c8f9a7e6d5c4b3a29180f7e6d5c4b3a291807f6e5d4c3b2a190",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scope show output lacks %q:\n%s", want, out)
		}
	}
	// password_reset must not offer unlock: the compiled scope, not the
	// document, says what each workflow may run.
	if i := strings.Index(out, "workflow password_reset"); i < 0 || strings.Contains(strings.SplitN(out[i:], "\n", 3)[1], "unlock_account") {
		t.Errorf("password_reset's allowed actions:\n%s", out)
	}

	code, out, errs = run(t, "scope", "show", "--config", cfg, "-o", "json")
	if code != 0 {
		t.Fatalf("scope show -o json: exit %d\n%s\n%s", code, out, errs)
	}
	var v struct {
		Client    string    `json:"client"`
		Site      string    `json:"site"`
		Version   uint64    `json:"version"`
		IssuedAt  time.Time `json:"issued_at"`
		ExpiresAt time.Time `json:"expires_at"`
		Expired   bool      `json:"expired"`
		Agents    []struct {
			Name      string `json:"name"`
			Workflows []struct {
				Name           string   `json:"name"`
				Mode           string   `json:"mode"`
				AllowedActions []string `json:"allowed_actions"`
				Budget         struct {
					MaxSteps    int    `json:"max_steps"`
					MaxWallTime string `json:"max_wall_time"`
				} `json:"budget"`
			} `json:"workflows"`
			Deny []policies.RuleDoc `json:"deny"`
			Data map[string][]string
		} `json:"agents"`
		Plugins []struct {
			Name, SHA256 string
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("scope show -o json: %v\n%s", err, out)
	}
	if v.Client != "example" || v.Site != "hq" || v.Version != 3 || !v.IssuedAt.Equal(issued) || v.Expired ||
		!v.ExpiresAt.Equal(issued.Add(7*24*time.Hour)) || len(v.Agents) != 1 || len(v.Agents[0].Workflows) != 2 ||
		v.Agents[0].Workflows[0].Name != "account_unlock" || v.Agents[0].Workflows[0].Budget.MaxSteps != 8 ||
		v.Agents[0].Workflows[1].Budget.MaxWallTime != "10m" || len(v.Agents[0].Deny) != 2 ||
		!strings.Contains(v.Agents[0].Deny[0].When, "domain admins") || len(v.Agents[0].Data["directory"]) == 0 ||
		len(v.Plugins) != 1 || v.Plugins[0].Name != "directory" || len(v.Plugins[0].SHA256) != 64 {
		t.Errorf("scope show -o json = %+v", v)
	}
}

func TestScopeShowFailures(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials.yaml")

	// Not enrolled.
	notEnrolled := writeConfig(t, t.TempDir(), filepath.Join(dir, "empty"), "", creds)
	if code, out, errs := run(t, "scope", "show", "--config", notEnrolled); code != 1 || out != "" ||
		!strings.Contains(errs, "sitewarden-runner enroll --token") {
		t.Errorf("not enrolled: exit %d\n%s\n%s", code, out, errs)
	}

	// Enrolled, no bundle fetched yet.
	state := filepath.Join(dir, "state")
	key := enrollSite(t, state, "example", "hq")
	cfg := writeConfig(t, dir, state, "", creds)
	code, out, errs := run(t, "scope", "show", "--config", cfg)
	if code != 1 || out != "" || !strings.Contains(errs, "no scope bundle yet") || !strings.Contains(errs, "sitewarden scope publish") ||
		!strings.Contains(errs, "sitewarden runners show hq --client example") {
		t.Errorf("no bundle: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("no bundle:\n%s", errs)
	if _, err := os.Stat(filepath.Join(state, "scope")); !os.IsNotExist(err) {
		t.Errorf("scope show created the scope directory (it must only read): %v", err)
	}

	// A bundle signed by another control plane's key.
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	otherState := filepath.Join(dir, "other")
	enrollSite(t, otherState, "example", "hq")
	publishScope(t, otherState, "example", otherKey, 1, time.Now(), pack(t, "account.yaml"))
	mustCopy(t, filepath.Join(otherState, "scope", "scope.pb"), filepath.Join(state, "scope", "scope.pb"))
	code, out, errs = run(t, "scope", "show", "--config", cfg)
	if code != 1 || out != "" || !strings.Contains(errs, "signature does not verify") || !strings.Contains(errs, "runner will not start with it") ||
		!strings.Contains(errs, "to fetch a fresh one") || !strings.Contains(errs, "enroll the site again") {
		t.Errorf("bad signature: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("bad signature:\n%s", errs)

	// An altered bundle (one payload byte changed on disk).
	otherState = filepath.Join(dir, "other2")
	enrollSite(t, otherState, "example", "hq")
	publishScope(t, otherState, "example", key, 1, time.Now(), pack(t, "account.yaml"))
	raw, err := os.ReadFile(filepath.Join(otherState, "scope", "scope.pb"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.Replace(raw, []byte("account-helper"), []byte("account-helpeR"), 1)
	if err := os.WriteFile(filepath.Join(state, "scope", "scope.pb"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := run(t, "scope", "show", "--config", cfg); code != 1 || out != "" || !strings.Contains(errs, "signature does not verify") {
		t.Errorf("altered bundle: exit %d\n%s\n%s", code, out, errs)
	}

	// A bundle for another client, signed with the right key.
	globex := filepath.Join(dir, "globex")
	enrollSite(t, globex, "globex", "hq")
	doc := bytes.Replace(pack(t, "disk.yaml").Data, []byte("client: example"), []byte("client: globex"), 1)
	publishScope(t, globex, "globex", key, 1, time.Now(), policies.Source{Name: "disk.yaml", Data: doc})
	mustCopy(t, filepath.Join(globex, "scope", "scope.pb"), filepath.Join(state, "scope", "scope.pb"))
	if code, out, errs := run(t, "scope", "show", "--config", cfg); code != 1 || out != "" ||
		!strings.Contains(errs, `bundle names "globex", this site serves "example"`) {
		t.Errorf("wrong client: exit %d\n%s\n%s", code, out, errs)
	}

	// An expired bundle: still shown, exit 1 with what to do.
	if err := os.Remove(filepath.Join(state, "scope", "scope.pb")); err != nil {
		t.Fatal(err)
	}
	issued := time.Now().Add(-8 * 24 * time.Hour)
	publishScope(t, state, "example", key, 2, issued, pack(t, "account.yaml"))
	code, out, errs = run(t, "scope", "show", "--config", cfg)
	if code != 1 || !strings.Contains(out, "EXPIRED 1d") || !strings.Contains(out, "account-helper") ||
		!strings.Contains(errs, "scope bundle expired: v2 of client example expired at "+fmtUTC(issued.Add(7*24*time.Hour))) ||
		!strings.Contains(errs, "sitewarden-runner status") {
		t.Errorf("expired: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("expired:\n%s", errs)
	code, out, _ = run(t, "scope", "show", "--config", cfg, "-o", "json")
	var v struct{ Expired bool }
	if err := json.Unmarshal([]byte(out), &v); code != 1 || err != nil || !v.Expired {
		t.Errorf("expired -o json: exit %d, %v, %+v", code, err, v)
	}

	// Usage errors.
	if code, _, errs := run(t, "scope", "show", "--config", cfg, "-o", "yaml"); code != 2 || !strings.Contains(errs, "use text or json") {
		t.Errorf("-o yaml: exit %d %s", code, errs)
	}
}

func mustCopy(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
