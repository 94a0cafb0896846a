package ldapdir

import (
	"context"
	"testing"

	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/plugins/sdk"
)

// BenchmarkOpenLDAPCall measures one whole call against a local slapd:
// TCP + TLS 1.3 handshake, service bind, search, close (the plugin keeps no
// connection between calls). The baseline is the bare LDAPS dial + bind +
// close, measured in the same run; ratio = call / baseline.
func BenchmarkOpenLDAPCall(b *testing.B) {
	srv := slapdtest.Start(b)
	p, err := New(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	req := sdk.Request{Operation: OpGetAccountStatus, Params: []byte(`{"user":"alice"}`), Credentials: srv.Credentials()}
	ctx := context.Background()
	var base float64
	b.Run("baseline_dial_bind", func(b *testing.B) {
		for b.Loop() {
			c, err := srv.Dial()
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Bind(slapdtest.ServiceDN, slapdtest.ServicePassword); err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
		base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("get_account_status", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Execute(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
		if call := float64(b.Elapsed().Nanoseconds()) / float64(b.N); base > 0 {
			b.ReportMetric(call/base, "ratio_vs_dial_bind")
		}
	})
}
