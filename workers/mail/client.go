package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// DefaultTimeout bounds each SMTP step (dial, each command, the message
// data): a relay that stops answering fails the attempt instead of holding
// the worker.
const DefaultTimeout = 30 * time.Second

// newSMTPClient returns a go-mail client for an SMTP_URL:
//
//	smtp://[user:pass@]host[:port]   STARTTLS when the server offers it (port 587)
//	smtps://[user:pass@]host[:port]  TLS from the first byte (port 465)
//
// with the query parameter starttls=required (refuse a server that does
// not offer STARTTLS) or starttls=off (never upgrade; local relays and
// tests). With a user, the client authenticates with the strongest
// mechanism the server offers (go-mail's auto-discovery: SCRAM, NTLM,
// CRAM-MD5, PLAIN, LOGIN); on a connection without TLS it offers only the
// challenge-response ones, so a password never crosses the wire in the
// clear.
func newSMTPClient(u *url.URL, timeout time.Duration) (*gomail.Client, error) {
	if u == nil {
		return nil, errors.New("no SMTP URL")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("SMTP URL: no host")
	}
	opts := []gomail.Option{gomail.WithTimeout(timeout)}
	port := 587
	switch u.Scheme {
	case "smtp":
		policy := gomail.TLSOpportunistic
		switch v := u.Query().Get("starttls"); v {
		case "", "opportunistic":
		case "required":
			policy = gomail.TLSMandatory
		case "off":
			policy = gomail.NoTLS
		default:
			return nil, fmt.Errorf("SMTP URL: starttls must be required, opportunistic or off, got %q", v)
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	case "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	default:
		return nil, fmt.Errorf("SMTP URL: want scheme smtp or smtps, got %q", u.Scheme)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("SMTP URL: bad port %q", p)
		}
		port = int(n)
	}
	opts = append(opts,
		gomail.WithPort(port),
		gomail.WithTLSConfig(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}),
	)
	if user := u.User.Username(); user != "" {
		pass, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(user), gomail.WithPassword(pass))
	} else {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthNoAuth))
	}
	c, err := gomail.NewClient(host, opts...)
	if err != nil {
		// go-mail's errors do not contain the password.
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	return c, nil
}
