package crypto

import "strings"

// personalFields lists, per stored event type, the JSON paths (dotted, from
// the top of the event's data) of the values that are personal data: what
// names, reaches or locates a person, and free text that people type and
// that can say anything about one. Store encrypts exactly these on Append,
// and decrypts exactly these on every read. Every plain-string field of
// every event type is classified, here or as not personal, by
// TestEveryStringFieldIsClassified, so a new field cannot slip in
// unencrypted without a decision.
//
// The table only grows: removing a path would leave the values already
// encrypted there unreadable (they would read as ciphertext). A field that
// stops being personal stays listed.
//
// What is deliberately not listed:
//   - Country codes of addresses: not identifying on their own, and the
//     VAT of an invoice is justified by the country, which invoices keep
//     (with number, amounts, VAT and dates) after erasure.
//   - Email subjects: the email policy makes them from templates without
//     names ("Your payment of €25.00 failed"); the erasure test scans the
//     database for the customer's name and would find one that slipped in.
//   - Ids (customer, Stripe, payment intents, tracking codes), product and
//     plan names, amounts, dates, statuses, and messages the system writes
//     (decline codes and messages from Stripe, cancel reasons of emails).
//   - The actor of an erasure ("admin:alice"): staff, not the customer.
//
// Tracking URLs are listed: carriers put the recipient's postcode in them
// (PostNL: .../3SABCD1234567/NL/1015CJ).
var personalFields = map[string][]string{
	// "name" is the first shape of customer.registered (see
	// customer.UpcastRegisteredV1).
	"customer.registered": append([]string{"name", "first_name", "last_name", "email", "phone"},
		addressPaths("address", "shipping_address")...),
	"customer.details_changed": append([]string{"first_name", "last_name", "email", "phone"},
		addressPaths("address", "shipping_address")...),

	"subscription.cancel_requested": {"reason"},
	"subscription.canceled":         {"reason"},

	"order.created":            addressPaths("billing_address", "shipping_address"),
	"order.sent":               {"tracking_url"},
	"order.tracking_corrected": {"tracking_url"},
	"order.canceled":           {"reason"},

	"invoice.created": append([]string{"customer_name"}, addressPaths("billing_address", "shipping_address")...),
	"invoice.voided":  {"reason"},

	"email.planned": {"recipient", "data.first_name", "data.tracking_url"},
	// An SMTP server's refusal quotes the recipient ("550 5.1.1
	// <ann@example.com>: Recipient address rejected").
	"email.failed": {"reason"},
}

// addressPaths returns the personal parts of the addresses under each
// prefix: street, zipcode and city (not the country).
func addressPaths(prefixes ...string) []string {
	var out []string
	for _, p := range prefixes {
		out = append(out, p+".street", p+".zipcode", p+".city")
	}
	return out
}

// ErasedEventType is the event after which a customer's personal data reads
// as erased everywhere. Store evicts the customer's key from its cache when
// it reads one, before handing it on, so that whoever reacts to it (the read
// models, which rebuild the customer's rows) reads the customer's history
// as erased.
const ErasedEventType = "customer.personal_data_erased"

// customerStreamPrefix names the streams whose events belong to the
// customer in the stream name ("customer-cus_123").
const customerStreamPrefix = "customer-"

// node is one level of the path trie of an event type: the members of an
// object that are personal (leaf) or lead to personal members (children).
type node struct {
	children map[string]*node
	leaf     bool
	// path is the dotted path of a leaf, bound into its ciphertext.
	path string
}

// trie builds the path trie of paths.
func trie(paths []string) *node {
	root := &node{children: map[string]*node{}}
	for _, p := range paths {
		n := root
		for _, part := range strings.Split(p, ".") {
			c := n.children[part]
			if c == nil {
				c = &node{children: map[string]*node{}}
				n.children[part] = c
			}
			n = c
		}
		n.leaf, n.path = true, p
	}
	return root
}

// tries is personalFields as path tries, by event type.
func tries(fields map[string][]string) map[string]*node {
	out := make(map[string]*node, len(fields))
	for typ, paths := range fields {
		out[typ] = trie(paths)
	}
	return out
}
