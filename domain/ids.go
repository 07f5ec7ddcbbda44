package domain

import "strings"

// The typed ids. Each is an opaque string with a type prefix ("cus_...").
// Ids are made outside the domain (the domain reads no randomness) and
// checked here by ParseXxxID.
type (
	CustomerID     string
	SubscriptionID string
	OrderID        string
	InvoiceID      string
	PaymentID      string
	EmailID        string
	ProductID      string
)

// The id prefixes API.md defines.
const (
	CustomerPrefix     = "cus_"
	SubscriptionPrefix = "sub_"
	OrderPrefix        = "ord_"
	InvoicePrefix      = "inv_"
	PaymentPrefix      = "pay_"
	EmailPrefix        = "eml_"
)

// parseID checks prefix + 1..64 characters of [A-Za-z0-9_-].
func parseID(field, prefix, s string) (string, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" || len(rest) > 64 {
		return "", Invalid(field, "%s must be an id starting with %q, got %q", field, prefix, s)
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return "", Invalid(field, "%s contains a character ids never have, got %q", field, s)
		}
	}
	return s, nil
}

// ParseCustomerID checks a "cus_" id.
func ParseCustomerID(s string) (CustomerID, error) {
	v, err := parseID("customer_id", CustomerPrefix, s)
	return CustomerID(v), err
}

// ParseSubscriptionID checks a "sub_" id.
func ParseSubscriptionID(s string) (SubscriptionID, error) {
	v, err := parseID("subscription_id", SubscriptionPrefix, s)
	return SubscriptionID(v), err
}

// ParseOrderID checks an "ord_" id.
func ParseOrderID(s string) (OrderID, error) {
	v, err := parseID("order_id", OrderPrefix, s)
	return OrderID(v), err
}

// ParseInvoiceID checks an "inv_" id.
func ParseInvoiceID(s string) (InvoiceID, error) {
	v, err := parseID("invoice_id", InvoicePrefix, s)
	return InvoiceID(v), err
}

// ParsePaymentID checks a "pay_" id.
func ParsePaymentID(s string) (PaymentID, error) {
	v, err := parseID("payment_id", PaymentPrefix, s)
	return PaymentID(v), err
}

// ParseEmailID checks an "eml_" id.
func ParseEmailID(s string) (EmailID, error) {
	v, err := parseID("email_id", EmailPrefix, s)
	return EmailID(v), err
}

// ParseProductID checks a product id: the catalogue's own ids have no fixed
// prefix, so any 1..64 characters of [A-Za-z0-9_-] are accepted.
func ParseProductID(s string) (ProductID, error) {
	v, err := parseID("product_id", "", s)
	return ProductID(v), err
}
