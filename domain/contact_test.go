package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

func TestParseCountry(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.Country{"NL": "NL", "nl": "NL", " be ": "BE", "De": "DE", "FR": "FR", "US": "US"} {
		got, err := domain.ParseCountry(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", "N", "NLD", "XX", "UK", "EU", "N L", "1N", "Nederland"} {
		_, err := domain.ParseCountry(in)
		requireInvalidField(t, err, "country")
	}
}

func TestNewAddress(t *testing.T) {
	t.Parallel()
	a, err := domain.NewAddress(" Keizersgracht 1 ", "1015 CJ", "Amsterdam", "nl")
	require.NoError(t, err)
	require.Equal(t, domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}, a)
	require.NoError(t, a.Validate())

	long := strings.Repeat("a", 201)
	tests := []struct {
		name                         string
		street, zipcode, city, cntry string
		field                        string
	}{
		{"missing street", "", "1015 CJ", "Amsterdam", "NL", "street"},
		{"blank street", "   ", "1015 CJ", "Amsterdam", "NL", "street"},
		{"missing zipcode", "Keizersgracht 1", "", "Amsterdam", "NL", "zipcode"},
		{"missing city", "Keizersgracht 1", "1015 CJ", "", "NL", "city"},
		{"long city", "Keizersgracht 1", "1015 CJ", long, "NL", "city"},
		{"control character", "Keizersgracht\n1", "1015 CJ", "Amsterdam", "NL", "street"},
		{"invalid UTF-8", "Keizersgracht \xff", "1015 CJ", "Amsterdam", "NL", "street"},
		{"unknown country", "Keizersgracht 1", "1015 CJ", "Amsterdam", "XX", "country"},
		{"missing country", "Keizersgracht 1", "1015 CJ", "Amsterdam", "", "country"},
	}
	for _, tt := range tests {
		_, err := domain.NewAddress(tt.street, tt.zipcode, tt.city, tt.cntry)
		requireInvalidField(t, err, tt.field)
		requireInvalidField(t, domain.PrefixField("shipping_address", err), "shipping_address."+tt.field)
	}
	requireInvalidField(t, domain.Address{Street: "x", Zipcode: "y", City: "z", Country: "ZZ"}.Validate(), "country")
	_, err = domain.NewAddress(strings.Repeat("é", 200), "1", "Z", "NL")
	require.NoError(t, err, "200 characters, not bytes")
}

func TestPrefixField(t *testing.T) {
	t.Parallel()
	requireInvalidField(t, domain.PrefixField("address", domain.Invalid("", "bad")), "address")
	requireInvalidField(t, domain.PrefixField("products[0]", domain.Invalid("interval.count", "bad")), "products[0].interval.count")
	require.NoError(t, domain.PrefixField("address", nil))
	var typedNil *domain.Error
	require.NotPanics(t, func() { domain.PrefixField("address", typedNil) }, "a typed nil passes through")
	plain := errors.New("disk on fire")
	require.Same(t, plain, domain.PrefixField("address", plain))
	// A sentinel is never modified in place.
	sentinel := domain.Conflict("x", "y")
	got := domain.PrefixField("a", sentinel)
	require.ErrorIs(t, got, sentinel)
	require.Empty(t, sentinel.Field)
}

func TestParseEmail(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.Email{
		"ann@example.com":            "ann@example.com",
		" ann@example.com ":          "ann@example.com",
		"Ann.de.Vries@Example.COM":   "Ann.de.Vries@example.com", // the local part may be case-sensitive
		"ann+orders@mail.example.nl": "ann+orders@mail.example.nl",
	} {
		got, err := domain.ParseEmail(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{
		"", "ann", "ann@", "@example.com", "ann@localhost", "Ann <ann@example.com>",
		"ann@example.com, bob@example.com", "ann@@example.com", "ann @example.com",
		strings.Repeat("a", 250) + "@example.com",
	} {
		_, err := domain.ParseEmail(in)
		requireInvalidField(t, err, "email")
	}
}

func TestParsePhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]domain.Phone{
		"+31 6 1234 5678":      "+31612345678",
		"+31612345678":         "+31612345678",
		"+32 (0)4-12.34.56":    "+3204123456",
		"+49 30 12345678":      "+493012345678",
		"+1 202 555 0100":      "+12025550100",
		"+31 6 1234 5678 9012": "+316123456789012", // 15 digits, the E.164 maximum
	} {
		got, err := domain.ParsePhone(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", "+", "0612345678", "0031612345678", "+0 612345678", "+31 6 1234", "+31 6 1234 5678 90123", "+31 6 CALL ME", "+31+612345678"} {
		_, err := domain.ParsePhone(in)
		requireInvalidField(t, err, "phone")
	}
}
