package domain

import (
	"net/mail"
	"strings"
)

// Email is a single mailbox address without a display name, with its domain
// in lower case.
type Email string

// ParseEmail accepts "local@domain" (RFC 5322 addr-spec).
func ParseEmail(s string) (Email, error) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return "", Invalid("email", "email must be an address such as ann@example.com, got %q", s)
	}
	at := strings.LastIndexByte(s, '@')
	if !strings.Contains(s[at+1:], ".") {
		return "", Invalid("email", "email domain must be a fully qualified domain, got %q", s)
	}
	return Email(s[:at+1] + strings.ToLower(s[at+1:])), nil
}

// Phone is a telephone number in E.164 form: "+" and 8 to 15 digits.
type Phone string

// ParsePhone accepts an international number with optional spaces, dots,
// dashes and parentheses ("+31 6 1234 5678") and returns its E.164 form.
func ParsePhone(s string) (Phone, error) {
	var b strings.Builder
	t := strings.TrimSpace(s)
	if !strings.HasPrefix(t, "+") {
		return "", Invalid("phone", "phone must be international, starting with + and the country code, got %q", s)
	}
	b.WriteByte('+')
	for _, r := range t[1:] {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", Invalid("phone", "phone may contain only digits, spaces, dots, dashes and parentheses, got %q", s)
		}
	}
	n := b.Len() - 1
	if n < 8 || n > 15 || b.String()[1] == '0' {
		return "", Invalid("phone", "phone must have 8 to 15 digits after +, got %q", s)
	}
	return Phone(b.String()), nil
}
