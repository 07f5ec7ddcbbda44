// Package mailtest runs a real SMTP server inside a test process
// (github.com/emersion/go-smtp) and hands the test every message it
// received, parsed: envelope, headers, the plain-text and HTML bodies and
// the attachments. Tests of the mail worker and end-to-end tests point
// SMTP_URL at Server.URL; a test can make the server refuse recipients or
// messages to exercise failures.
package mailtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	// From and To are the envelope (MAIL FROM, RCPT TO).
	From string
	To   []string
	// Raw is the message as received.
	Raw []byte
	// Header is its parsed header; Subject is decoded.
	Header  mail.Header
	Subject string
	// MessageID is the Message-ID header without angle brackets.
	MessageID string
	// Text and HTML are the decoded bodies ("" when absent).
	Text string
	HTML string
	// Attachments are the decoded attachments, in order.
	Attachments []Attachment
}

// Attachment is one attached file.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// Server is an SMTP server on 127.0.0.1 that keeps what it receives. It
// advertises no STARTTLS and no AUTH, so clients connect with
// ?starttls=off or the default opportunistic STARTTLS.
type Server struct {
	// URL is the server's SMTP_URL: smtp://127.0.0.1:<port>?starttls=off.
	URL *url.URL

	srv *smtp.Server

	mu       sync.Mutex
	messages []Message
	errs     []error
	rcptFunc func(to string) error
	dataFunc func(raw []byte) error
	hangUp   bool
	arrived  chan struct{}
}

// NewServer starts a server that stops when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listening: %v", err)
	}
	s := &Server{arrived: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &session{s: s, conn: c}, nil }))
	s.srv.Domain = "mailtest.localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxMessageBytes = 25 << 20
	s.srv.MaxRecipients = 50
	s.srv.EnableSMTPUTF8 = true
	s.URL = &url.URL{Scheme: "smtp", Host: ln.Addr().String(), RawQuery: "starttls=off"}
	go func() { _ = s.srv.Serve(ln) }()
	t.Cleanup(func() { _ = s.srv.Close() })
	return s
}

// RejectRecipients makes RCPT TO answer with the error f returns (nil
// accepts); an *smtp.SMTPError sets the reply code, e.g.
// &smtp.SMTPError{Code: 550, Message: "no such user"}.
func (s *Server) RejectRecipients(f func(to string) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rcptFunc = f
}

// RejectMessages makes the end of DATA answer with the error f returns
// (nil accepts the message).
func (s *Server) RejectMessages(f func(raw []byte) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dataFunc = f
}

// HangUpAfterData makes the server keep each message it receives and then
// drop the connection instead of answering the final ".": the client cannot
// know whether the message was delivered (it was).
func (s *Server) HangUpAfterData(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangUp = on
}

// Messages returns every message accepted so far, in order of arrival.
// It fails the test when a received message could not be parsed.
func (s *Server) Messages(t testing.TB) []Message {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.errs {
		t.Errorf("mailtest: %v", err)
	}
	return append([]Message(nil), s.messages...)
}

// Wait waits up to timeout until at least n messages were accepted and
// returns them all; it fails the test on timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := s.Messages(t); len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("mailtest: waited %s for %d messages, got %d", timeout, n, len(s.Messages(t)))
		}
	}
}

type session struct {
	s    *Server
	conn *smtp.Conn
	from string
	to   []string
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	f := ss.s.rcptFunc
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	f := ss.s.dataFunc
	ss.s.mu.Unlock()
	if f != nil {
		if err := f(raw); err != nil {
			return err
		}
	}
	m, perr := Parse(raw)
	m.From, m.To = ss.from, append([]string(nil), ss.to...)
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, m)
	if perr != nil {
		ss.s.errs = append(ss.s.errs, perr)
	}
	hangUp := ss.s.hangUp
	ss.s.mu.Unlock()
	select {
	case ss.s.arrived <- struct{}{}:
	default:
	}
	if hangUp {
		_ = ss.conn.Close()
	}
	return nil
}

// Parse parses a raw RFC 5322 message: header, decoded bodies and
// attachments, walking nested multipart parts.
func Parse(raw []byte) (Message, error) {
	m := Message{Raw: raw}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return m, fmt.Errorf("parsing a message: %w", err)
	}
	m.Header = msg.Header
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return m, fmt.Errorf("decoding the subject: %w", err)
	}
	m.MessageID = strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>")
	err = m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Header.Get("Content-Disposition"), msg.Body)
	return m, err
}

func (m *Message) walk(contentType, encoding, disposition string, body io.Reader) error {
	if contentType == "" {
		contentType = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("reading a %s part: %w", mediaType, err)
			}
			if err := m.walk(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p.Header.Get("Content-Disposition"), p); err != nil {
				return err
			}
		}
	}
	data, err := decode(encoding, body)
	if err != nil {
		return err
	}
	disp, dparams, _ := mime.ParseMediaType(disposition)
	switch {
	case disp == "attachment" || (disp == "inline" && dparams["filename"] != ""):
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		m.Attachments = append(m.Attachments, Attachment{Name: name, ContentType: mediaType, Data: data})
	case mediaType == "text/plain" && m.Text == "":
		m.Text = string(data)
	case mediaType == "text/html" && m.HTML == "":
		m.HTML = string(data)
	default:
		m.Attachments = append(m.Attachments, Attachment{Name: params["name"], ContentType: mediaType, Data: data})
	}
	return nil
}

func decode(encoding string, r io.Reader) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r) // it skips line breaks
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("decoding a %s part: %w", encoding, err)
	}
	return b, nil
}
