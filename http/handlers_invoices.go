package http

import (
	"context"
	"net/http"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/projections"
	"github.com/subsd/subsd/workers"
)

// refundRequest is the body of POST /v1/invoices/{id}/refund.
type refundRequest struct {
	// Amount is optional: without it, all that was paid and not yet
	// refunded is refunded.
	Amount *domain.Money `json:"amount"`
}

// handleRetryInvoice is POST /v1/invoices/{id}/retry: charge now. The next
// payment attempt is recorded (so the answer shows it pending) and its
// charge enqueued; the answer is 202 with the invoice document, since
// Stripe's outcome follows (at once from the worker, or by webhook). 409
// invoice_already_paid, invoice_void or payment_attempt_pending when no
// attempt can start.
func (s *Server) handleRetryInvoice(w http.ResponseWriter, r *http.Request) {
	if s.Payments == nil {
		s.writeError(w, r, errStripeNotConfigured)
		return
	}
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeNoBody(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := domain.InvoiceID(pathVar(r, "id"))
	pos, err := s.Payments.RetryCharge(r.Context(), s.metadata(r), id, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandDoc(w, r, http.StatusAccepted, pos, s.invoiceDoc(id), idVersion{ID: string(id)})
}

// handleRefundInvoice is POST /v1/invoices/{id}/refund {amount?}: a refund
// through Stripe, recorded on the invoice; 200 with the invoice document.
// The Stripe idempotency key is the refund command's id, derived from the
// request's Idempotency-Key when it has one (a retry of the request after
// a lost answer cannot refund twice), random otherwise. 409
// refund_exceeds_paid, invoice_not_paid, refund_rejected (by Stripe).
func (s *Server) handleRefundInvoice(w http.ResponseWriter, r *http.Request) {
	if s.Payments == nil {
		s.writeError(w, r, errStripeNotConfigured)
		return
	}
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req refundRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := domain.InvoiceID(pathVar(r, "id"))
	refundID := workers.RefundCommandID(id, idempotencyKey(r.Context()))
	pos, err := s.Payments.Refund(r.Context(), s.metadata(r), id, req.Amount, refundID, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandDoc(w, r, http.StatusOK, pos, s.invoiceDoc(id), idVersion{ID: string(id)})
}

func (s *Server) invoiceDoc(id domain.InvoiceID) docLoader {
	return func(ctx context.Context) (projections.Doc, error) { return s.Reader.Invoice(ctx, string(id)) }
}
