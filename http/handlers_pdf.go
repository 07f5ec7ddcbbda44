package http

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/eventstore"
)

// InvoicePDFRenderer renders an invoice as a PDF document; *pdf.Renderer
// (workers/pdf) is one.
type InvoicePDFRenderer interface {
	Invoice(inv invoice.State) ([]byte, error)
}

// errNoInvoicePDF answers GET /v1/invoices/{id}/pdf on a server that was
// given no renderer (Server.InvoicePDF): a wiring mistake, reported as
// "not implemented" rather than as an internal error.
var errNoInvoicePDF = &domain.Error{Kind: kindNotImplemented, Code: "not_implemented", Message: "invoice PDFs are not configured on this server"}

// handleGetInvoicePDF is GET /v1/invoices/{id}/pdf: the invoice as an
// application/pdf document, rendered on each request from the invoice's
// stream. The log is always current, so X-Min-Position never waits here,
// and an invoice exists as soon as its creation was answered.
func (s *Server) handleGetInvoicePDF(w http.ResponseWriter, r *http.Request) {
	id, err := domain.ParseInvoiceID(pathVar(r, "id"))
	if err != nil {
		s.writeError(w, r, invoice.ErrInvoiceNotFound)
		return
	}
	if s.InvoicePDF == nil {
		s.writeError(w, r, errNoInvoicePDF)
		return
	}
	inv, _, err := eventstore.Load(r.Context(), s.Store, invoice.Aggregate, invoice.Stream(id))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !inv.Exists() {
		s.writeError(w, r, invoice.ErrInvoiceNotFound)
		return
	}
	doc, err := s.InvoicePDF.Invoice(inv)
	if err != nil {
		s.writeError(w, r, errors.Join(errors.New("rendering the invoice PDF"), err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	// The number is [A-Z0-9-] (domain.ParseInvoiceNumber), safe in a
	// quoted filename.
	h.Set("Content-Disposition", `inline; filename="`+string(inv.Number)+`.pdf"`)
	// An invoice holds personal data: no shared cache keeps it.
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}
