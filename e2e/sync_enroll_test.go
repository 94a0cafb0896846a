package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/protocol"
	renroll "github.com/sitewarden/sitewarden/runner/enroll"
)

func enrollCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestEnrollIssuesSiteCertificate enrolls a runner state directory and
// checks what it holds: a key that never left (mode 0600), a certificate
// naming tenant, client and site, and the site recorded on the control plane.
func TestEnrollIssuesSiteCertificate(t *testing.T) {
	p := startPlane(t, 90*24*time.Hour)
	dir := t.TempDir()
	token := p.token(t, "acme", "hq", time.Hour)
	id, err := renroll.Enroller{Dir: dir}.Enroll(enrollCtx(t), token)
	if err != nil {
		t.Fatal(err)
	}
	decoded, _ := protocol.DecodeToken(token)
	if logs := p.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, base64.RawURLEncoding.EncodeToString(decoded.Secret)) {
		t.Error("the control plane logged the enrollment token or its secret")
	}
	if id != (renroll.Identity{Tenant: "msp", Client: "acme", Site: "hq"}) {
		t.Errorf("identity = %+v", id)
	}
	cr, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Address != p.addr || cr.Identity != id {
		t.Errorf("credentials = %s %+v", cr.Address, cr.Identity)
	}
	fi, err := os.Stat(filepath.Join(dir, renroll.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	site, err := p.store.Site(context.Background(), "acme", "hq")
	if err != nil || site.Tenant != "msp" || site.CertSerial == "" {
		t.Errorf("control plane site = %+v, %v", site, err)
	}
	if _, err := (renroll.Enroller{Dir: dir}).Enroll(enrollCtx(t), p.token(t, "acme", "hq", time.Hour)); !errors.Is(err, renroll.ErrAlreadyEnrolled) {
		t.Errorf("second enrollment of the same directory: %v, want ErrAlreadyEnrolled", err)
	}
}

// TestEnrollRefusesBadTokens is the token matrix: expired (by the control
// plane's record and by the token's own stamp), reused, forged, and made by
// another control plane (wrong CA). Each fails with a message that says
// what to do, and leaves no credentials behind.
func TestEnrollRefusesBadTokens(t *testing.T) {
	p := startPlane(t, 90*24*time.Hour)
	other := startPlane(t, 90*24*time.Hour)

	used := p.token(t, "acme", "hq", time.Hour)
	if _, err := (renroll.Enroller{Dir: t.TempDir()}).Enroll(enrollCtx(t), used); err != nil {
		t.Fatal(err)
	}
	expiredOnServer := p.token(t, "acme", "b1", time.Minute)

	forged, err := protocol.DecodeToken(p.token(t, "acme", "b2", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	forged.Secret[0] ^= 0xff
	// A token from another control plane, pointed at this one's address: the
	// pin names the other CA.
	wrongCA, err := protocol.DecodeToken(other.token(t, "acme", "b3", time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wrongCA.Address = p.addr

	tests := []struct {
		name  string
		token string
		// runnerNow shifts the runner's clock; serverAdvance the control plane's.
		runnerNow     time.Time
		serverAdvance time.Duration
		wantErr       error
		wantText      string
	}{
		{"reused", used, time.Time{}, 0, renroll.ErrTokenRejected, "a token works once"},
		{"expired on the control plane", expiredOnServer, time.Time{}, 2 * time.Minute, renroll.ErrTokenRejected, "expired at"},
		{"expired by its stamp", p.token(t, "acme", "b4", time.Minute), time.Now().Add(time.Hour), 0, renroll.ErrTokenExpired, "sitewarden token create --client acme --site b4"},
		{"forged", forged.Encode(), time.Time{}, 0, renroll.ErrTokenRejected, "never issued this token"},
		{"wrong CA", wrongCA.Encode(), time.Time{}, 0, renroll.ErrWrongCA, "made for another control plane"},
		{"garbage", "hello", time.Time{}, 0, renroll.ErrMalformedToken, "swt1_"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := p.clock.t
			p.clock.t = base.Add(tt.serverAdvance)
			defer func() { p.clock.t = base }()
			e := renroll.Enroller{Dir: t.TempDir()}
			if !tt.runnerNow.IsZero() {
				e.Now = func() time.Time { return tt.runnerNow }
			}
			_, err := e.Enroll(enrollCtx(t), tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Enroll: %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not say %q", err, tt.wantText)
			}
			t.Logf("refused: %v", err)
			if _, err := renroll.Load(e.Dir); !errors.Is(err, renroll.ErrNotEnrolled) {
				t.Errorf("after a refused enrollment Load = %v, want ErrNotEnrolled", err)
			}
		})
	}
}

// TestEnrollRenewsBeforeExpiry renews a certificate once two thirds of its
// life have passed, and not before.
func TestEnrollRenewsBeforeExpiry(t *testing.T) {
	p := startPlane(t, 3*time.Hour)
	dir := t.TempDir()
	start := time.Now()
	if _, err := (renroll.Enroller{Dir: dir}).Enroll(enrollCtx(t), p.token(t, "acme", "hq", time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	renewed, err := renroll.Enroller{Dir: dir, Now: func() time.Time { return start.Add(time.Hour) }}.Renew(enrollCtx(t))
	if err != nil || renewed {
		t.Fatalf("renew after 1h of 3h: %v, %v; want nothing due", renewed, err)
	}
	later := func() time.Time { return start.Add(2*time.Hour + 10*time.Minute) }
	p.clock.t = later()
	renewed, err = renroll.Enroller{Dir: dir, Now: later}.Renew(enrollCtx(t))
	if err != nil || !renewed {
		t.Fatalf("renew after 2h10m of 3h: %v, %v; want renewed", renewed, err)
	}
	after, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Cert.Leaf.NotAfter.After(before.Cert.Leaf.NotAfter) || after.Identity != before.Identity {
		t.Errorf("renewed cert: not after %v (was %v), identity %+v", after.Cert.Leaf.NotAfter, before.Cert.Leaf.NotAfter, after.Identity)
	}
	if string(after.Cert.Certificate[0]) == string(before.Cert.Certificate[0]) {
		t.Error("certificate unchanged after renewal")
	}
}

// TestEnrollRenewsThroughAlternate: when the enrolled control plane is gone,
// renewal tries the runner's other addresses in order (same CA pin) and
// renews through the replica that answers; the enrollment keeps its address.
func TestEnrollRenewsThroughAlternate(t *testing.T) {
	p := startPlane(t, 3*time.Hour)
	dir := t.TempDir()
	start := time.Now()
	if _, err := (renroll.Enroller{Dir: dir}).Enroll(enrollCtx(t), p.token(t, "acme", "hq", time.Hour)); err != nil {
		t.Fatal(err)
	}
	before, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	dead := p.addr
	p.stop()
	// A replica on the same state (store and CA) at another address.
	live := startPlaneWith(t, planeOpts{dir: p.dir, validity: 3 * time.Hour})
	later := func() time.Time { return start.Add(2*time.Hour + 10*time.Minute) }
	live.clock.Set(later())

	renewed, err := renroll.Enroller{Dir: dir, Now: later, Timeout: 5 * time.Second}.Renew(enrollCtx(t))
	if !errors.Is(err, renroll.ErrUnreachable) || renewed || !strings.Contains(err.Error(), dead) {
		t.Fatalf("renew with only the dead enrolled address: %v, %v; want ErrUnreachable naming %s", renewed, err, dead)
	}
	renewed, err = renroll.Enroller{Dir: dir, Now: later, Timeout: 5 * time.Second, Addresses: []string{dead, live.addr}}.Renew(enrollCtx(t))
	if err != nil || !renewed {
		t.Fatalf("renew with a dead then a live address: %v, %v; want renewed", renewed, err)
	}
	after, err := renroll.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Cert.Leaf.NotAfter.After(before.Cert.Leaf.NotAfter) || after.Identity != before.Identity {
		t.Errorf("renewed cert: not after %v (was %v), identity %+v", after.Cert.Leaf.NotAfter, before.Cert.Leaf.NotAfter, after.Identity)
	}
	if after.Address != dead {
		t.Errorf("enrollment address after renewal through %s = %s; want the enrolled %s kept", live.addr, after.Address, dead)
	}
}
