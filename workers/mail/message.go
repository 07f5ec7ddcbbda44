package mail

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/subsd/subsd/domain"
)

// Message is one email ready to go: addresses, subject, both bodies and
// attachments. Deliver fixes its Message-ID.
type Message struct {
	// EmailID is the email aggregate's id: the delivery ledger's key and
	// the left part of the Message-ID.
	EmailID domain.EmailID
	// FromName and From are the sender (the email settings' from_name and
	// from_address).
	FromName string
	From     domain.Email
	// To is the recipient.
	To      domain.Email
	Subject string
	// Date is the Date header: the business clock's now when sent.
	Date time.Time
	// Text and HTML are the two bodies, sent as multipart/alternative
	// (text first, so that clients that prefer the last part they can show
	// show the HTML).
	Text string
	HTML string
	// Attachments are added in order, after the bodies.
	Attachments []Attachment
}

// Attachment is a file sent with a message.
type Attachment struct {
	// Name is the file name the recipient sees.
	Name string
	// ContentType is its MIME type, e.g. "application/pdf".
	ContentType string
	Data        []byte
}

// MessageID returns the Message-ID (without angle brackets) of the email
// with id emailID, sent from an address at domain: "eml_…@domain". It is a
// pure function of the email id, so every attempt to send one email, and a
// resend after a crash if one ever happened, carries the same Message-ID:
// the recipient's mail system can recognise the message as one, and the
// ledger and the server's log can be matched by it.
func MessageID(emailID domain.EmailID, domain string) string {
	if domain == "" {
		domain = "subsd.invalid"
	}
	return string(emailID) + "@" + domain
}

// domainOf returns the domain of an address ("example.com").
func domainOf(addr domain.Email) string {
	_, d, _ := strings.Cut(string(addr), "@")
	return d
}

// build returns the go-mail message for m with Message-ID messageID.
func (m Message) build(messageID string) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	var err error
	if m.FromName != "" {
		err = msg.FromFormat(m.FromName, string(m.From))
	} else {
		err = msg.From(string(m.From))
	}
	if err != nil {
		return nil, fmt.Errorf("from address %q: %w", m.From, err)
	}
	if err := msg.To(string(m.To)); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", m.To, err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageID)
	msg.SetDateWithValue(m.Date)
	// RFC 3834: an automatic message; vacation responders stay quiet.
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	for _, a := range m.Attachments {
		if err := msg.AttachReader(a.Name, bytes.NewReader(a.Data), gomail.WithFileContentType(gomail.ContentType(a.ContentType))); err != nil {
			return nil, fmt.Errorf("attaching %s: %w", a.Name, err)
		}
	}
	return msg, nil
}
