package ldapdir

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// session is one LDAP connection for one call; close it when done.
type session struct {
	*ldap.Conn
	stop func() bool
}

func (s *session) close() {
	s.stop()
	_ = s.Conn.Close()
}

// dial connects to t over LDAPS, or over ldap:// followed by StartTLS (or, test
// only, plain), and ties the connection's life to ctx.
func (p *Plugin) dial(ctx context.Context, t target) (*session, error) {
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	raw, err := d.DialContext(ctx, "tcp", t.hostport)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %v; check the url and that the directory is reachable from this site", ErrDirectory, t.hostport, err)
	}
	tc := &tls.Config{RootCAs: t.roots, ServerName: t.serverName, MinVersion: tls.VersionTLS12}
	var c *ldap.Conn
	switch {
	case t.scheme == "ldaps":
		tconn := tls.Client(raw, tc)
		hctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
		err := tconn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("%w: TLS handshake with %s: %v; check ca_pem and server_name", ErrDirectory, t.hostport, err)
		}
		c = ldap.NewConn(tconn, true)
		c.Start()
	default:
		c = ldap.NewConn(raw, false)
		c.Start()
		if !t.plain {
			c.SetTimeout(p.cfg.DialTimeout)
			if err := c.StartTLS(tc); err != nil {
				_ = c.Close()
				return nil, fmt.Errorf("%w: StartTLS with %s: %v; check ca_pem and server_name, or use ldaps://", ErrDirectory, t.hostport, err)
			}
		}
	}
	timeout := p.cfg.OpTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	c.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	return &session{Conn: c, stop: stop}, nil
}

// serviceSession dials and binds as the service account.
func (p *Plugin) serviceSession(ctx context.Context, t target) (*session, error) {
	s, err := p.dial(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := s.Bind(t.bindDN, t.bindPW); err != nil {
		s.close()
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return nil, fmt.Errorf("%w: %s: invalid credentials; check bind_dn and bind_password of the site's directory credentials", ErrServiceBind, t.bindDN)
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrServiceBind, t.bindDN, ldapMessage(err))
	}
	return s, nil
}

// ldapMessage renders an LDAP error for a supervisor: result code and the
// server's diagnostic. Servers never echo password values.
func ldapMessage(err error) string {
	var le *ldap.Error
	if errors.As(err, &le) {
		msg := ldap.LDAPResultCodeMap[le.ResultCode]
		if le.Err != nil {
			msg += ": " + le.Err.Error()
		}
		return fmt.Sprintf("LDAP %d %s", le.ResultCode, msg)
	}
	return err.Error()
}
