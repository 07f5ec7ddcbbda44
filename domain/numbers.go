package domain

import "strings"

// OrderNumber is the human number of an order, "ORD-000123": "ORD-" and a
// sequence of at least six digits, zero-padded to six, never zero. Numbers
// are allocated outside the domain (sequential without gaps, API.md); the
// domain only refuses malformed ones.
type OrderNumber string

// InvoiceNumber is the human number of an invoice, "INV-2026-000042": "INV-",
// the year it was issued in, "-" and a sequence of at least six digits,
// zero-padded to six, never zero. Allocated outside the domain like
// OrderNumber; the year is not compared with any date here, because which
// year an instant falls in depends on the business time zone the allocator
// knows.
type InvoiceNumber string

// ParseOrderNumber checks an order number. Errors name the field "number".
func ParseOrderNumber(s string) (OrderNumber, error) {
	seq, ok := strings.CutPrefix(s, "ORD-")
	if !ok || !isSequence(seq) {
		return "", Invalid("number", "order number must look like ORD-000123, got %q", s)
	}
	return OrderNumber(s), nil
}

// ParseInvoiceNumber checks an invoice number. Errors name the field "number".
func ParseInvoiceNumber(s string) (InvoiceNumber, error) {
	rest, ok := strings.CutPrefix(s, "INV-")
	year, seq, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 || len(year) != 4 || !allDigits(year) || year < "2000" || !isSequence(seq) {
		return "", Invalid("number", "invoice number must look like INV-2026-000042, got %q", s)
	}
	return InvoiceNumber(s), nil
}

// isSequence accepts the canonical form of a sequence number 1..10^12-1: six
// digits with leading zeros, or more digits without one, so that one number
// has one spelling.
func isSequence(s string) bool {
	if len(s) < 6 || len(s) > 12 || !allDigits(s) || strings.Trim(s, "0") == "" {
		return false
	}
	return len(s) == 6 || s[0] != '0'
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
