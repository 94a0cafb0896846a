package ldapdir_test

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/sitewarden/sitewarden/plugins/directory/ldapdir"
	"github.com/sitewarden/sitewarden/plugins/directory/slapdtest"
	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/plugins/sdk/sdktest"
)

// TestCredentialDeclaration checks the plugin's declared credential keys
// against the keys it reads, against a real slapd: every operation runs to
// success with the site's section plus a verification's per-call password,
// and the test fails when the plugin reads a key it does not declare or
// declares a required key it never reads.
func TestCredentialDeclaration(t *testing.T) {
	srv := slapdtest.Start(t)
	alice := slapdtest.Users[0]
	req := func(op string, params any, extra map[string]string) sdk.Request {
		b, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		creds := sdk.Credentials(srv.Credentials())
		for k, v := range extra {
			creds[k] = v
		}
		return sdk.Request{Operation: op, Params: b, Credentials: creds}
	}
	who := map[string]string{"user": alice.Login}
	sdktest.CheckCredentialDeclaration(t, ldapdir.NewDefault(io.Discard),
		req(ldapdir.OpFindUser, who, nil),
		req(ldapdir.OpGetAccountStatus, who, nil),
		req(ldapdir.OpListGroups, who, nil),
		req(ldapdir.OpUnlockAccount, who, nil),
		req(ldapdir.OpVerifyCredentials, who, map[string]string{ldapdir.CredUserPassword: alice.Password}),
		// A reset's verification gets the new password as a goal secret.
		req(ldapdir.OpVerifyCredentials, who, map[string]string{sdk.GoalSecretPrefix + ldapdir.SecretPassword: alice.Password}),
		req(ldapdir.OpResetPassword, who, nil),
	)
}
