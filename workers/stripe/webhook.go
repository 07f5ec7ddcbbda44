package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// WebhookTolerance is how old a webhook's signature timestamp may be:
// Stripe's recommended 300 s, against replays of a captured delivery. It is
// measured on the real clock (Stripe signs with it), never a test clock.
const WebhookTolerance = 300 * time.Second

// ErrBadSignature is returned by VerifyWebhook for a delivery that is not
// signed with the endpoint's secret, or signed too long ago.
var ErrBadSignature = errors.New("stripe: webhook signature verification failed")

// ErrNoWebhookSecret is returned by VerifyWebhook when no secret is
// configured: nothing can be verified, which is the server's fault, not
// the sender's.
var ErrNoWebhookSecret = errors.New("stripe: no webhook secret is configured (STRIPE_WEBHOOK_SECRET)")

// The event types subsd applies. Others are acknowledged and ignored.
const (
	EventPaymentIntentSucceeded  = "payment_intent.succeeded"
	EventPaymentIntentFailed     = "payment_intent.payment_failed"
	EventPaymentIntentProcessing = "payment_intent.processing"
	EventPaymentIntentCanceled   = "payment_intent.canceled"
	EventChargeRefunded          = "charge.refunded"
	EventChargeDisputeCreated    = "charge.dispute.created"
)

// Event is a verified webhook event. Exactly one of PaymentIntent, Charge
// and Dispute is set for the types above, according to the type's object;
// none for other types.
type Event struct {
	ID         string
	Type       string
	Created    time.Time
	Livemode   bool
	APIVersion string

	PaymentIntent *PaymentIntent
	Charge        *Charge
	Dispute       *Dispute
}

// ObjectID returns the id of the event's object ("" when unknown).
func (e Event) ObjectID() string {
	switch {
	case e.PaymentIntent != nil:
		return e.PaymentIntent.ID
	case e.Charge != nil:
		return e.Charge.ID
	case e.Dispute != nil:
		return e.Dispute.ID
	}
	return ""
}

// Charge is the part of a Stripe charge a charge.* event carries.
type Charge struct {
	ID              string
	PaymentIntentID string
	Amount          int64
	AmountRefunded  int64
	Currency        string // upper case
	Metadata        Metadata
	// Refunds are the charge's refunds when the payload includes them
	// (RefundsIncluded); since API version 2022-11-15 it does not, and the
	// refunds are listed through the API instead.
	Refunds         []Refund
	RefundsIncluded bool
}

// Dispute is the part of a Stripe dispute a charge.dispute.* event carries.
type Dispute struct {
	ID              string
	ChargeID        string
	PaymentIntentID string
	Amount          int64
	Currency        string // upper case
	Reason          string
	Status          string
	Metadata        Metadata
}

// VerifyWebhook checks a delivery's Stripe-Signature header against the
// client's webhook secret (stripe-go's ConstructEventWithOptions, with
// WebhookTolerance) and parses the event. A bad or stale signature is
// ErrBadSignature; a signed payload that is not an event is another error.
//
// The event's API version is not required to be stripe-go's: the account's
// webhook endpoint may be pinned to another, and the few fields read here
// (ids, status, amounts, metadata, last_payment_error) are stable across
// versions.
func (c *Client) VerifyWebhook(payload []byte, header string) (Event, error) {
	return VerifyWebhook(payload, header, c.webhookSecret)
}

// VerifyWebhook is Client.VerifyWebhook with the secret given.
func VerifyWebhook(payload []byte, header, secret string) (Event, error) {
	if secret == "" {
		return Event{}, ErrNoWebhookSecret
	}
	se, err := webhook.ConstructEventWithOptions(payload, header, secret, webhook.ConstructEventOptions{
		Tolerance:                WebhookTolerance,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		if errors.Is(err, webhook.ErrNotSigned) || errors.Is(err, webhook.ErrInvalidHeader) ||
			errors.Is(err, webhook.ErrNoValidSignature) || errors.Is(err, webhook.ErrTooOld) {
			return Event{}, fmt.Errorf("%w: %w", ErrBadSignature, err)
		}
		return Event{}, fmt.Errorf("stripe: parsing a webhook event: %w", err)
	}
	if se.ID == "" || se.Type == "" || se.Data == nil {
		return Event{}, errors.New("stripe: the webhook payload is not an event")
	}
	e := Event{
		ID: se.ID, Type: string(se.Type), Created: time.Unix(se.Created, 0).UTC(),
		Livemode: se.Livemode, APIVersion: se.APIVersion,
	}
	switch {
	case strings.HasPrefix(e.Type, "payment_intent."):
		var pi stripego.PaymentIntent
		if err := json.Unmarshal(se.Data.Raw, &pi); err != nil {
			return Event{}, fmt.Errorf("stripe: event %s: parsing its payment intent: %w", e.ID, err)
		}
		v := paymentIntentFrom(&pi)
		e.PaymentIntent = &v
	case strings.HasPrefix(e.Type, "charge.dispute."):
		var d stripego.Dispute
		if err := json.Unmarshal(se.Data.Raw, &d); err != nil {
			return Event{}, fmt.Errorf("stripe: event %s: parsing its dispute: %w", e.ID, err)
		}
		v := Dispute{ID: d.ID, Amount: d.Amount, Currency: strings.ToUpper(string(d.Currency)),
			Reason: string(d.Reason), Status: string(d.Status), Metadata: metadataFrom(d.Metadata)}
		if d.Charge != nil {
			v.ChargeID = d.Charge.ID
		}
		if d.PaymentIntent != nil {
			v.PaymentIntentID = d.PaymentIntent.ID
		}
		e.Dispute = &v
	case strings.HasPrefix(e.Type, "charge."):
		var ch stripego.Charge
		if err := json.Unmarshal(se.Data.Raw, &ch); err != nil {
			return Event{}, fmt.Errorf("stripe: event %s: parsing its charge: %w", e.ID, err)
		}
		v := Charge{ID: ch.ID, Amount: ch.Amount, AmountRefunded: ch.AmountRefunded,
			Currency: strings.ToUpper(string(ch.Currency)), Metadata: metadataFrom(ch.Metadata)}
		if ch.PaymentIntent != nil {
			v.PaymentIntentID = ch.PaymentIntent.ID
		}
		if ch.Refunds != nil {
			v.RefundsIncluded = true
			for _, r := range ch.Refunds.Data {
				v.Refunds = append(v.Refunds, refundFrom(r))
			}
		}
		e.Charge = &v
	}
	return e, nil
}
