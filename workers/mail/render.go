package mail

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/email"
)

//go:embed templates
var templateFS embed.FS

// View is what a template sees.
type View struct {
	// Business is the sender's name (the email settings' from_name).
	Business string
	// Subject is the email's subject, as planned.
	Subject string
	// Data is the email's data as planned (email.Data), the salutation's
	// FirstName included.
	Data email.Data
	// Attachments names the files sent with the email.
	Attachments []string
}

// Templates renders every email type in HTML and plain text. The templates
// are embedded (templates/<type>.html and .txt, each inside
// layout.html/layout.txt); html/template escapes everything that comes
// from data in the HTML body. Dates print in the business time zone.
type Templates struct {
	html map[email.Type]*htmltemplate.Template
	text map[email.Type]*texttemplate.Template
}

// NewTemplates parses the templates of every type in email.Types; loc is
// the business time zone (nil: UTC). It fails when a type lacks either
// template, so a new email type cannot ship without its text.
func NewTemplates(loc *time.Location) (*Templates, error) {
	if loc == nil {
		loc = time.UTC
	}
	funcs := map[string]any{
		"money": formatMoney,
		"date": func(t time.Time) string {
			return t.In(loc).Format("Monday 2 January 2006")
		},
		"datetime": func(t time.Time) string {
			return t.In(loc).Format("Monday 2 January 2006 at 15:04")
		},
	}
	t := &Templates{html: map[email.Type]*htmltemplate.Template{}, text: map[email.Type]*texttemplate.Template{}}
	for _, typ := range email.Types() {
		h, err := htmltemplate.New("layout.html").Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.html", "templates/"+string(typ)+".html")
		if err != nil {
			return nil, fmt.Errorf("email templates: %s: %w", typ, err)
		}
		x, err := texttemplate.New("layout.txt").Funcs(funcs).Option("missingkey=error").
			ParseFS(templateFS, "templates/layout.txt", "templates/"+string(typ)+".txt")
		if err != nil {
			return nil, fmt.Errorf("email templates: %s: %w", typ, err)
		}
		t.html[typ], t.text[typ] = h, x
	}
	return t, nil
}

// Render returns the plain-text and HTML bodies of an email of type typ.
func (t *Templates) Render(typ email.Type, v View) (text, html string, err error) {
	h, ok := t.html[typ]
	if !ok {
		return "", "", fmt.Errorf("no template for email type %q", typ)
	}
	var hb, tb bytes.Buffer
	if err := t.text[typ].Execute(&tb, v); err != nil {
		return "", "", fmt.Errorf("rendering the text of %s: %w", typ, err)
	}
	if err := h.Execute(&hb, v); err != nil {
		return "", "", fmt.Errorf("rendering the HTML of %s: %w", typ, err)
	}
	return tidy(tb.String()), hb.String(), nil
}

// tidy trims trailing spaces and collapses runs of blank lines that
// optional template sections leave in the plain-text body.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}

// formatMoney prints "€12.34" for euros and "12.34 USD" otherwise; a nil
// amount prints nothing (templates test for it first).
func formatMoney(m *domain.Money) string {
	if m == nil {
		return ""
	}
	a := m.Amount()
	sign := ""
	if a < 0 {
		sign, a = "-", -a
	}
	if m.Currency() == domain.EUR {
		return fmt.Sprintf("%s€%d.%02d", sign, a/100, a%100)
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.Currency())
}
