package http

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
)

// Payments is what the Stripe webhook and the invoices' retry and refund
// endpoints need (workers.Payments has it). Each method returns the
// position of what it appended (the zero Position for nothing), and
// *domain.Error for what the caller can act on.
type Payments interface {
	// ApplyStripeWebhook verifies a delivery's Stripe-Signature (an
	// invalid one is a KindInvalid *domain.Error), and applies the event
	// once, however often it is delivered.
	ApplyStripeWebhook(ctx context.Context, payload []byte, signature string) (eventstore.Position, error)
	// RetryCharge starts the invoice's next payment attempt and enqueues
	// its charge. ifMatch, when set, is the invoice version the caller saw
	// (eventstore.ErrVersionMismatch when it moved on).
	RetryCharge(ctx context.Context, md eventstore.Metadata, id domain.InvoiceID, ifMatch *uint64) (eventstore.Position, error)
	// Refund refunds amount (nil: all that is left) through Stripe as
	// refund command refundID, and records it; ifMatch as for RetryCharge.
	Refund(ctx context.Context, md eventstore.Metadata, id domain.InvoiceID, amount *domain.Money, refundID string, ifMatch *uint64) (eventstore.Position, error)
}

// errStripeNotConfigured answers the Stripe routes of a server without
// Payments (no STRIPE_SECRET_KEY).
var errStripeNotConfigured = &domain.Error{Kind: kindUnavailable, Code: "stripe_not_configured",
	Message: "payments through Stripe are not configured on this server (STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET)"}

// webhookResponse is the body of a webhook delivery's 200.
type webhookResponse struct {
	Received bool `json:"received"`
}

// handleStripeWebhook is POST /v1/webhooks/stripe (public: Stripe signs
// instead of authenticating). The body is read as it came, since the
// signature covers its exact bytes. A bad signature is 400
// invalid_signature; a known event 200 without doing anything again; a
// failure to record is 500, which Stripe retries. X-Event-Position is set
// when the event appended something.
func (s *Server) handleStripeWebhook(w http.ResponseWriter, r *http.Request) {
	if s.Payments == nil {
		s.writeError(w, r, errStripeNotConfigured)
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			err = errBodyTooLarge
		}
		s.writeError(w, r, err)
		return
	}
	pos, err := s.Payments.ApplyStripeWebhook(r.Context(), payload, r.Header.Get("Stripe-Signature"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandResult(w, r, http.StatusOK, webhookResponse{Received: true}, pos)
}
