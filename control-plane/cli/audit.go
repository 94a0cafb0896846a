package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	protocolaudit "github.com/sitewarden/sitewarden/protocol/audit"
)

// newAuditCmd is 'sitewarden audit': offline verification of a site's
// audit export (the same code as 'sitewarden-runner audit verify').
func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify sites' tamper-evident audit exports",
	}
	var key, format string
	verify := &cobra.Command{
		Use:   "verify FILE --key PUBKEY [-o json]",
		Short: "Verify an audit export offline with the site's public key; exit 0 only if all of it verifies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return usageError{errors.New("audit verify needs --key: the site's verifier key (name+hash+base64) or a file holding it")}
			}
			if format != "text" && format != "json" {
				return usageError{fmt.Errorf("-o %q: want text or json", format)}
			}
			v, err := protocolaudit.LoadVerifierKey(key)
			if err != nil {
				return usageError{err}
			}
			s, verr := protocolaudit.VerifyFile(cmd.Context(), args[0], v)
			if err := protocolaudit.WriteReport(cmd.OutOrStdout(), s, verr, format == "json"); err != nil {
				return err
			}
			if verr != nil {
				return fmt.Errorf("audit verify: %s does not verify", args[0])
			}
			return nil
		},
	}
	verify.Flags().StringVar(&key, "key", "", "the site's verifier key (name+hash+base64), or a file holding it (required)")
	verify.Flags().StringVarP(&format, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(verify, newAuditExportCmd())
	return cmd
}
