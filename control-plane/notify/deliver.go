package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxResponse bounds what is read of a receiver's response.
const maxResponse = 4 << 10

// Sender posts events to targets. The zero value is not usable; use
// NewSender.
type Sender struct {
	client *http.Client
	now    func() time.Time
}

// NewSender returns a Sender over client (nil: a client that follows no
// redirects: a webhook that redirects is misconfigured, and the redirect
// would carry the signed body elsewhere).
func NewSender(client *http.Client) *Sender {
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Sender{client: client, now: time.Now}
}

// DeliveryError is a failed delivery attempt. Permanent is true when the
// receiver refused the request itself (400, 413, 415, 422): retrying the
// same body cannot succeed.
type DeliveryError struct {
	Status    int
	Permanent bool
	Err       error
}

func (e *DeliveryError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("receiver answered HTTP %d", e.Status)
	}
	return e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Send posts e to t within t.Timeout and returns the HTTP status. A
// status other than 2xx is a *DeliveryError. Errors never include the
// target's URL path or query (often its token).
func (s *Sender) Send(ctx context.Context, t Target, e Event) (int, error) {
	body, err := Render(t.Format, e)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return 0, &DeliveryError{Permanent: true, Err: fmt.Errorf("request to %s: bad URL", redactURL(t.URL))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "sitewarden-notify/1")
	req.Header.Set(HeaderEventID, e.ID)
	req.Header.Set(HeaderEventType, e.Type)
	if t.Format == FormatJSON {
		ts := s.now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(t.Secret, ts, body))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s", t.Timeout)
		}
		return 0, &DeliveryError{Err: fmt.Errorf("post to %s: %w", redactURL(t.URL), err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
		return resp.StatusCode, &DeliveryError{Status: resp.StatusCode, Permanent: true}
	}
	return resp.StatusCode, &DeliveryError{Status: resp.StatusCode}
}
