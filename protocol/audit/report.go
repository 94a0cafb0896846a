package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// jsonReport is the '-o json' shape of a verification result.
type jsonReport struct {
	OK       bool    `json:"ok"`
	Error    string  `json:"error,omitempty"`
	Index    *uint64 `json:"index,omitempty"`
	*Summary `json:",omitempty"`
}

// WriteReport prints the outcome of Verify for a person (asJSON false) or a
// machine (asJSON true). Both 'sitewarden audit verify' and
// 'sitewarden-runner audit verify' use it, so their output is identical.
func WriteReport(w io.Writer, s Summary, verr error, asJSON bool) error {
	if asJSON {
		rep := jsonReport{OK: verr == nil}
		if verr == nil {
			rep.Summary = &s
		} else {
			rep.Error = verr.Error()
			var ve *VerifyError
			if errors.As(verr, &ve) && ve.HasIndex {
				rep.Index = &ve.Index
			}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if verr != nil {
		_, err := fmt.Fprintf(w, "FAILED: %v\n", verr)
		return err
	}
	_, err := fmt.Fprintf(w, "OK: %d records verified (index %d..%d) of %s\nclient:      %s\nkey:         %s\ntime:        %s .. %s\ncheckpoints: %d verified, tree size %d, root %s\nkinds:\n",
		s.Records, s.FirstIndex, s.LastIndex, s.Origin, s.Client, s.Key,
		s.FirstTime.Format(time.RFC3339Nano), s.LastTime.Format(time.RFC3339Nano),
		len(s.Checkpoints), s.TreeSize, s.Checkpoints[len(s.Checkpoints)-1].Root)
	if err != nil {
		return err
	}
	kinds := make([]string, 0, len(s.Kinds))
	for k := range s.Kinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		if _, err := fmt.Fprintf(w, "  %-20s %d\n", k, s.Kinds[k]); err != nil {
			return err
		}
	}
	return nil
}
