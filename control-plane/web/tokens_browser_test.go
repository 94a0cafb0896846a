package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TestBrowserRevokeToken drives the token page in real headless Chromium
// as an operations engineer: from the sites page to the client's tokens,
// where Revoke asks first (declining changes nothing), then revokes; the
// store shows the token revoked.
func TestBrowserRevokeToken(t *testing.T) {
	e := newEnv(t, nil)
	fleet := e.putToken("acme", "", "a", 5, t0.Add(time.Hour))
	if err := e.enrollWith(fleet, "acme", "pc1"); err != nil {
		t.Fatal(err)
	}
	id := store.TokenID(fleet)
	br := newBrowser(t)
	ctx, shot, do := br.ctx, br.shot, br.do
	answer := func(yes bool) chromedp.Action[chromedp.Void] {
		js := fmt.Sprintf("window.asked = []; window.confirm = function (q) { window.asked.push(q); return %t; }; true", yes)
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
			return err
		})
	}
	revoked := func() bool {
		t.Helper()
		tok, err := e.st.TokenByHash(context.Background(), fleet)
		if err != nil {
			t.Fatal(err)
		}
		return !tok.RevokedAt.IsZero()
	}

	do("log in", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#user"), "operations_engineer"), chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Submit(chromedp.CSS("#login")), chromedp.WaitVisible(chromedp.CSS("form.who")))
	do("sites to tokens", chromedp.Navigate(e.srv.URL+"/sites?client=acme"), chromedp.WaitVisible(chromedp.CSS("#tokens-link a")),
		chromedp.Click(chromedp.CSS("#tokens-link a")), chromedp.WaitVisible(chromedp.CSS("#token-"+id+" form.revoke button")))
	row, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#token-"+id)))
	if err != nil || !strings.Contains(row, "fleet") || !strings.Contains(row, "1 / 5") || !strings.Contains(row, "pc1") || !strings.Contains(row, "usable") {
		t.Errorf("token row = %q, %v", row, err)
	}
	shot("tokens-01-list")
	do("decline", answer(false), chromedp.Click(chromedp.CSS("#token-"+id+" form.revoke button")))
	if q, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(window.asked || []).join("|")`)); err != nil || !strings.Contains(q, "Revoke fleet token "+id+" of acme?") {
		t.Errorf("the Revoke button asked %q (%v), want its confirmation", q, err)
	}
	do("reload", chromedp.Navigate(e.srv.URL+"/sites/enrollment-tokens?client=acme"), chromedp.WaitVisible(chromedp.CSS("#token-"+id)))
	if revoked() {
		t.Fatal("declining the confirmation revoked the token")
	}
	do("revoke", answer(true), chromedp.Click(chromedp.CSS("#token-"+id+" form.revoke button")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if !revoked() {
		t.Error("the store does not show the token revoked")
	}
	if state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#token-"+id+" td.token-revoked"))); err != nil || !strings.HasPrefix(state, "revoked") {
		t.Errorf("the row's state after revoking = %q, %v", state, err)
	}
	shot("tokens-02-revoked")
}
