package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cpenroll "github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
	renroll "github.com/sitewarden/sitewarden/runner/enroll"
)

func (p *plane) fleetToken(t testing.TB, client string, uses int, ttl time.Duration) string {
	t.Helper()
	tok, err := cpenroll.CreateFleetToken(context.Background(), p.store, p.ca, p.addr, "msp", client, uses, ttl, p.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok.Encode()
}

// runnerEnroll runs the real runner binary's enroll command in a fresh
// state directory and returns its exit code and output.
func runnerEnroll(t *testing.T, token string, args ...string) (int, string, string) {
	t.Helper()
	state := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// An empty config file: no site_name unless args set one.
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin(t, "sitewarden-runner"), append([]string{"enroll", "--config", cfg, "--state", state, "--token", token}, args...)...)
	out, _ := cmd.CombinedOutput()
	return cmd.ProcessState.ExitCode(), string(out), state
}

// TestFleetTokenEnrollsRunners: three real runners enroll with one fleet
// token of two uses: two get their own sites (named by --site-name and by
// the host name), the third is refused with a message saying the token is
// used up. The control plane logs each enrollment with the token's ID,
// never its secret, and records which token enrolled which site.
func TestFleetTokenEnrollsRunners(t *testing.T) {
	p := startPlane(t, 0)
	token := p.fleetToken(t, "acme", 2, time.Hour)
	decoded, err := protocol.DecodeToken(token)
	if err != nil {
		t.Fatal(err)
	}
	id := cpenroll.TokenID(decoded)

	code, out, _ := runnerEnroll(t, token, "--site-name", "front-desk")
	if code != 0 || !strings.Contains(out, "enrolled as msp/acme/front-desk") {
		t.Fatalf("first runner: exit %d: %s", code, out)
	}
	// No site_name: the host name, lowercased.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hostSite := strings.ToLower(host)
	code, out, state := runnerEnroll(t, token)
	if code != 0 || !strings.Contains(out, "enrolled as msp/acme/"+hostSite) {
		t.Fatalf("second runner (host name %q): exit %d: %s", host, code, out)
	}
	if cr, err := renroll.Load(state); err != nil || cr.Identity.Site != hostSite {
		t.Errorf("second runner's credentials = %+v, %v", cr.Identity, err)
	}
	code, out, state = runnerEnroll(t, token, "--site-name", "third")
	if code == 0 || !strings.Contains(out, "has enrolled the 2 sites it allows") || !strings.Contains(out, "--fleet --uses N") {
		t.Errorf("third runner: exit %d, want a refusal saying the token is used up: %s", code, out)
	}
	if _, err := renroll.Load(state); !errors.Is(err, renroll.ErrNotEnrolled) {
		t.Errorf("refused runner holds credentials: %v", err)
	}
	ctx := context.Background()
	if _, err := p.store.Site(ctx, "acme", "third"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused site recorded: %v", err)
	}
	for _, name := range []string{"front-desk", hostSite} {
		en, err := p.store.SiteEnrollment(ctx, "acme", name)
		if err != nil || en.ID != id || !en.Fleet {
			t.Errorf("site %s enrolled by %+v, %v; want fleet token %s", name, en, err, id)
		}
	}
	logs := p.logs.String()
	if n := strings.Count(logs, `"msg":"site enrolled with fleet token","token_id":"`+id+`"`); n != 2 {
		t.Errorf("%d fleet enrollments logged with token_id %s, want 2:\n%s", n, id, logs)
	}
	if !strings.Contains(logs, `"reason":"token_exhausted"`) {
		t.Error("the refused enrollment is not logged")
	}
	if strings.Contains(logs, token) || strings.Contains(logs, base64.RawURLEncoding.EncodeToString(decoded.Secret)) ||
		strings.Contains(logs, cpenroll.SecretHash(decoded.Secret)) {
		t.Error("the control plane logged the fleet token, its secret or its hash")
	}
}

// TestFleetTokenRefusals is the fleet token matrix: an existing site is
// never re-keyed, a revoked or expired token is refused, an invalid host
// name is refused before anything is sent, a runner with no site name
// cannot use a fleet token, and one-site tokens work as before.
func TestFleetTokenRefusals(t *testing.T) {
	p := startPlane(t, 0)
	ctx := context.Background()
	named := func(n string) renroll.Enroller {
		return renroll.Enroller{Dir: t.TempDir(), SiteName: func() (string, error) { return n, nil }}
	}
	// hq enrolled with a one-site token, exactly as before fleet tokens; the
	// Enroller's site name is ignored for it.
	idHQ, err := named("ignored").Enroll(enrollCtx(t), p.token(t, "acme", "hq", time.Hour))
	if err != nil || idHQ.Site != "hq" {
		t.Fatalf("one-site token: %+v, %v", idHQ, err)
	}
	before, err := p.store.Site(ctx, "acme", "hq")
	if err != nil {
		t.Fatal(err)
	}
	fleet := p.fleetToken(t, "acme", 10, time.Hour)
	_, err = named("hq").Enroll(enrollCtx(t), fleet)
	if !errors.Is(err, renroll.ErrTokenRejected) || !strings.Contains(err.Error(), "already enrolled") || !strings.Contains(err.Error(), "SITE_NAME") ||
		!strings.Contains(err.Error(), "sitewarden token create --client acme --site hq") {
		t.Errorf("fleet enrollment of existing hq: %v", err)
	}
	if after, _ := p.store.Site(ctx, "acme", "hq"); after.CertSerial != before.CertSerial || !after.EnrolledAt.Equal(before.EnrolledAt) {
		t.Errorf("the refused fleet enrollment changed hq: %+v -> %+v", before, after)
	}
	if tok, _ := protocol.DecodeToken(fleet); true {
		if st, err := p.store.TokenByHash(ctx, cpenroll.SecretHash(tok.Secret)); err != nil || st.Uses != 0 {
			t.Errorf("a refused enrollment spent a use: %+v, %v", st, err)
		}
	}

	revoked := p.fleetToken(t, "acme", 10, time.Hour)
	rt, _ := protocol.DecodeToken(revoked)
	if _, err := p.store.RevokeToken(ctx, "acme", cpenroll.TokenID(rt), p.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := named("pc-r").Enroll(enrollCtx(t), revoked); !errors.Is(err, renroll.ErrTokenRejected) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked fleet token: %v", err)
	}
	oneRevoked := p.token(t, "acme", "branch", time.Hour)
	ot, _ := protocol.DecodeToken(oneRevoked)
	if _, err := p.store.RevokeToken(ctx, "acme", cpenroll.TokenID(ot), p.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := named("x").Enroll(enrollCtx(t), oneRevoked); !errors.Is(err, renroll.ErrTokenRejected) || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("revoked one-site token: %v", err)
	}

	expiring := p.fleetToken(t, "acme", 10, time.Minute)
	base := p.clock.Now()
	p.clock.Set(base.Add(2 * time.Minute))
	_, err = named("pc-late").Enroll(enrollCtx(t), expiring)
	p.clock.Set(base)
	if !errors.Is(err, renroll.ErrTokenRejected) || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("expired fleet token: %v", err)
	}

	if _, err := named("bad name").Enroll(enrollCtx(t), fleet); !errors.Is(err, renroll.ErrNoSiteName) {
		t.Errorf("invalid site name: %v, want ErrNoSiteName", err)
	}
	if _, err := (renroll.Enroller{Dir: t.TempDir()}).Enroll(enrollCtx(t), fleet); !errors.Is(err, renroll.ErrNoSiteName) {
		t.Errorf("no site name source: %v, want ErrNoSiteName", err)
	}
	id, err := named("pc-ok").Enroll(enrollCtx(t), fleet)
	if err != nil || id != (renroll.Identity{Tenant: "msp", Client: "acme", Site: "pc-ok"}) {
		t.Errorf("fleet enrollment after the refusals: %+v, %v", id, err)
	}
}
