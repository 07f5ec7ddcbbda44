package domain_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

func TestParseIDs(t *testing.T) {
	t.Parallel()
	parsers := []struct {
		field, prefix string
		parse         func(string) (string, error)
	}{
		{"customer_id", "cus_", func(s string) (string, error) { v, err := domain.ParseCustomerID(s); return string(v), err }},
		{"subscription_id", "sub_", func(s string) (string, error) { v, err := domain.ParseSubscriptionID(s); return string(v), err }},
		{"order_id", "ord_", func(s string) (string, error) { v, err := domain.ParseOrderID(s); return string(v), err }},
		{"invoice_id", "inv_", func(s string) (string, error) { v, err := domain.ParseInvoiceID(s); return string(v), err }},
		{"payment_id", "pay_", func(s string) (string, error) { v, err := domain.ParsePaymentID(s); return string(v), err }},
		{"email_id", "eml_", func(s string) (string, error) { v, err := domain.ParseEmailID(s); return string(v), err }},
	}
	for _, p := range parsers {
		t.Run(p.field, func(t *testing.T) {
			t.Parallel()
			for _, ok := range []string{p.prefix + "01JB8Z", p.prefix + "a_b-C9", p.prefix + strings.Repeat("x", 64)} {
				got, err := p.parse(ok)
				require.NoError(t, err, ok)
				require.Equal(t, ok, got)
			}
			for _, bad := range []string{"", p.prefix, "xxx_123", strings.ToUpper(p.prefix) + "123", p.prefix + "a b", p.prefix + "é", p.prefix + "a/b", p.prefix + strings.Repeat("x", 65), "123"} {
				got, err := p.parse(bad)
				requireInvalidField(t, err, p.field)
				require.Empty(t, got)
			}
		})
	}
	// Ids of one kind are not ids of another.
	_, err := domain.ParseCustomerID("sub_123")
	requireInvalidField(t, err, "customer_id")

	// Product ids come from the catalogue and have no prefix.
	for _, ok := range []string{"coffee-beans-1kg", "P42", "sku_7"} {
		got, err := domain.ParseProductID(ok)
		require.NoError(t, err)
		require.Equal(t, domain.ProductID(ok), got)
	}
	for _, bad := range []string{"", "coffee beans", strings.Repeat("p", 65)} {
		_, err := domain.ParseProductID(bad)
		requireInvalidField(t, err, "product_id")
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	sentinel := domain.Conflict("subscription_canceled", "the subscription is canceled")
	require.Equal(t, domain.KindConflict, sentinel.Kind)
	withField := sentinel.WithField("products[0]")
	require.ErrorIs(t, withField, sentinel, "a copy carrying a field still matches its sentinel")
	require.Empty(t, sentinel.Field)
	require.Equal(t, "subscription_canceled: the subscription is canceled (products[0])", withField.Error())
	require.NotErrorIs(t, sentinel, domain.Conflict("other", "the subscription is canceled"))

	nf := domain.NotFound("product_not_found", "no such product")
	require.Equal(t, domain.KindNotFound, nf.Kind)

	inv := domain.Invalid("address.city", "city is %s", "required")
	require.ErrorIs(t, inv, domain.ErrInvalid)
	require.Equal(t, "invalid_field: city is required (address.city)", inv.Error())
	require.NotErrorIs(t, inv, sentinel)
}
