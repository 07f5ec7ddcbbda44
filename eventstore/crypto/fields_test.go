package crypto

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
)

// allEvents is one value of every event type of every aggregate. A type
// missing here fails TestAllEventsListed through the codecs.
var allEvents = []domain.Event{
	customer.Registered{}, customer.DetailsChanged{}, customer.ReturnLabelRequested{},
	customer.StripeCustomerLinked{}, customer.PersonalDataErased{},
	subscription.Created{}, subscription.ProductAdded{}, subscription.ProductIntervalChanged{},
	subscription.NextShipmentSet{}, subscription.ShipmentSkipped{}, subscription.ProductRemoved{},
	subscription.ShipmentDue{}, subscription.ChargeDue{}, subscription.PaymentReceived{},
	subscription.RefundRecorded{}, subscription.Activated{}, subscription.Recovered{},
	subscription.MarkedPastDue{}, subscription.Paused{}, subscription.Resumed{},
	subscription.CancelRequested{}, subscription.Canceled{}, subscription.TermCompleted{},
	order.Created{}, order.Sent{}, order.TrackingCorrected{}, order.PickedUp{}, order.Canceled{}, order.InvoiceLinked{},
	invoice.Created{}, invoice.AttemptStarted{}, invoice.AttemptProcessing{}, invoice.AttemptSucceeded{},
	invoice.Paid{}, invoice.AttemptFailed{}, invoice.RetryScheduled{}, invoice.RetriesExhausted{},
	invoice.Refunded{}, invoice.Voided{},
	email.Planned{}, email.Sent{}, email.Failed{}, email.Canceled{},
	settings.EmailSettingsChanged{}, settings.DunningChanged{},
}

// notPersonal is every free-form string field of the events that is not
// personal data, with the reason. Together with personalFields it must
// cover every such field (TestEveryStringFieldIsClassified). Paths are
// "type:path"; "[]" stands for any element of a list.
var notPersonal = map[string]string{
	"customer.stripe_customer_linked:stripe_customer_id": "Stripe's id of the customer object",
	"customer.return_label_requested:label_id":           "our id",
	"customer.personal_data_erased:actor":                "the staff member who erased, not the customer",

	"subscription.created:plan.name":            "product catalogue",
	"subscription.created:payment_method_id":    "Stripe's id of the payment method",
	"subscription.created:products[].name":      "product catalogue",
	"subscription.product_added:product.name":   "product catalogue",
	"subscription.product_removed:name":         "product catalogue",
	"subscription.shipment_due:name":            "product catalogue",
	"subscription.charge_due:plan_name":         "product catalogue",
	"subscription.charge_due:payment_method_id": "Stripe's id of the payment method",

	"order.created:items[].name":             "product catalogue",
	"order.sent:tracking_code":               "the carrier's parcel id",
	"order.sent:carrier":                     "the carrier's name",
	"order.tracking_corrected:tracking_code": "the carrier's parcel id",
	"order.tracking_corrected:carrier":       "the carrier's name",

	"invoice.created:lines[].name":                 "product catalogue",
	"invoice.attempt_processing:payment_intent_id": "Stripe's id",
	"invoice.attempt_succeeded:payment_intent_id":  "Stripe's id",
	"invoice.paid:payment_intent_id":               "Stripe's id",
	"invoice.attempt_failed:payment_intent_id":     "Stripe's id",
	"invoice.attempt_failed:decline_code":          "Stripe's code",
	"invoice.attempt_failed:message":               "Stripe's decline message, about the card, not the person",
	"invoice.retries_exhausted:last_decline_code":  "Stripe's code",
	"invoice.refunded:refund_id":                   "Stripe's id",
	"email.planned:subject":                        "made by the email policy from templates without names (see fields.go)",
	"email.planned:reason.event_id":                "our id",
	"email.planned:reason.event_type":              "our type name",
	"email.planned:reason.reference":               "our id",
	"email.planned:data.plan_name":                 "product catalogue",
	"email.planned:data.order_number":              "our number",
	"email.planned:data.invoice_number":            "our number",
	"email.planned:data.tracking_code":             "the carrier's parcel id",
	"email.planned:data.carrier":                   "the carrier's name",
	"email.planned:data.label_id":                  "our id",
	"email.sent:message_id":                        "our Message-ID",
	"email.canceled:reason":                        "written by the system (\"track and trace is switched off\")",
	"settings.email_changed:email.from_name":       "the business's sender name",
	"settings.email_changed:email.from_address":    "the business's sender address",
}

// legacyPaths are personal paths of event shapes no Go type has any more
// (upcast on read); they stay encrypted when an old shape is appended.
var legacyPaths = map[string]bool{"customer.registered:name": true}

// personalKinds are the types whose fields need a decision: free text and
// the value objects that are personal by nature. Other named string types
// are ids, enums and codes.
var personalKinds = []reflect.Type{
	reflect.TypeFor[string](), reflect.TypeFor[domain.Email](), reflect.TypeFor[domain.Phone](),
}

// opaque types are encoded as values of their own (money, dates, times),
// never as free text.
var opaque = []reflect.Type{
	reflect.TypeFor[domain.Money](), reflect.TypeFor[domain.Date](), reflect.TypeFor[domain.Country](),
}

// stringLeaves returns the dotted JSON paths of the free-form string fields
// of t.
func stringLeaves(t reflect.Type, prefix string, out *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if slices.Contains(opaque, t) || t.PkgPath() == "time" {
		return
	}
	switch t.Kind() {
	case reflect.String:
		if slices.Contains(personalKinds, t) {
			*out = append(*out, prefix)
		}
	case reflect.Slice, reflect.Array:
		stringLeaves(t.Elem(), prefix+"[]", out)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				stringLeaves(f.Type, prefix, out)
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := name
			if prefix != "" {
				p = prefix + "." + name
			}
			stringLeaves(f.Type, p, out)
		}
	}
}

// TestEveryStringFieldIsClassified makes adding a free-text field to an
// event a decision: it must be listed as personal (encrypted) or as not
// personal, with the reason.
func TestEveryStringFieldIsClassified(t *testing.T) {
	t.Parallel()
	used := map[string]bool{}
	for _, e := range allEvents {
		typ := e.EventType()
		var leaves []string
		stringLeaves(reflect.TypeOf(e), "", &leaves)
		for _, leaf := range leaves {
			k := typ + ":" + leaf
			personal := slices.Contains(personalFields[typ], leaf)
			_, plain := notPersonal[k]
			used[k] = true
			require.Truef(t, personal || plain, "%s is not classified: add it to personalFields (fields.go) or to notPersonal", k)
			require.Falsef(t, personal && plain, "%s is listed both as personal and as not personal", k)
		}
	}
	for typ, paths := range personalFields {
		for _, p := range paths {
			k := typ + ":" + p
			require.Truef(t, used[k] || legacyPaths[k], "personalFields lists %s, which no event has", k)
		}
	}
	var stale []string
	for k := range notPersonal {
		if !used[k] {
			stale = append(stale, k)
		}
	}
	slices.Sort(stale)
	require.Empty(t, stale, "notPersonal lists fields no event has")
}

// TestPersonalPathsAreObjectsOnly: the scanner follows object members
// only, so no personal path may run through a list.
func TestPersonalPathsAreObjectsOnly(t *testing.T) {
	t.Parallel()
	for typ, paths := range personalFields {
		for _, p := range paths {
			require.NotContains(t, p, "[]", "%s: %s", typ, p)
		}
	}
}
