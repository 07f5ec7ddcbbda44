package http

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/projections"
)

// createCustomerRequest is the body of POST /v1/customers.
type createCustomerRequest struct {
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
	// Phone is optional.
	Phone   string          `json:"phone"`
	Address *domain.Address `json:"address"`
	// ShippingAddress is optional: without it orders ship to Address.
	ShippingAddress *domain.Address `json:"shipping_address"`
}

// updateCustomerRequest is the body of PATCH /v1/customers/{id}: absent
// fields stay as they are; "phone": null (or "") and "shipping_address":
// null remove those.
type updateCustomerRequest struct {
	FirstName       *string                  `json:"first_name"`
	LastName        *string                  `json:"last_name"`
	Email           *string                  `json:"email"`
	Phone           nullable[string]         `json:"phone"`
	Address         *domain.Address          `json:"address"`
	ShippingAddress nullable[domain.Address] `json:"shipping_address"`
}

// handleListCustomers is GET /v1/customers?query=&status=&limit=&cursor=:
// the customers overview, searchable by name, email and order number, and
// filtered by subscription status.
func (s *Server) handleListCustomers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := listLimit(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := q.Get("status")
	if status != "" && !validSubscriptionStatus(status) {
		s.writeError(w, r, domain.Invalid("status", "status must be one of pending, active, past_due, paused, canceling, canceled, got %q", status))
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Reader.Customers(r.Context(), projections.CustomerFilter{
		Query: strings.TrimSpace(q.Get("query")), Status: status, Cursor: q.Get("cursor"), Limit: limit,
	})
	s.writePage(w, r, page, err)
}

func validSubscriptionStatus(s string) bool {
	switch subscription.Status(s) {
	case subscription.StatusPending, subscription.StatusActive, subscription.StatusPastDue,
		subscription.StatusPaused, subscription.StatusCanceling, subscription.StatusCanceled:
		return true
	}
	return false
}

// handleCreateCustomer is POST /v1/customers → 201 and the customer detail
// document.
func (s *Server) handleCreateCustomer(w http.ResponseWriter, r *http.Request) {
	var req createCustomerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Address == nil {
		s.writeError(w, r, required("address"))
		return
	}
	res, err := s.Commands.CreateCustomer(r.Context(), s.metadata(r), customer.Register{
		FirstName: req.FirstName, LastName: req.LastName, Email: domain.Email(req.Email), Phone: domain.Phone(req.Phone),
		Address: *req.Address, ShippingAddress: req.ShippingAddress,
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := res.Customer.ID
	w.Header().Set("Location", "/v1/customers/"+string(id))
	s.writeCommandDoc(w, r, http.StatusCreated, res.Position, s.customerDoc(id), idVersion{ID: string(id), Version: res.Version})
}

// handleGetCustomer is GET /v1/customers/{id}: the customer detail page,
// every section in one stored document; with ?as_of= the page as it stood
// then, replayed from the log (handleGetCustomerAsOf).
func (s *Server) handleGetCustomer(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("as_of") {
		s.handleGetCustomerAsOf(w, r)
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, err := s.Reader.Customer(r.Context(), pathVar(r, "id"))
	s.writeDoc(w, r, doc, customer.ErrCustomerNotFound, err)
}

// handleUpdateCustomer is PATCH /v1/customers/{id} (If-Match honoured) → 200
// and the customer detail document.
func (s *Server) handleUpdateCustomer(w http.ResponseWriter, r *http.Request) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req updateCustomerRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	c := customer.ChangeDetails{FirstName: req.FirstName, LastName: req.LastName, Address: req.Address}
	if req.Email != nil {
		e := domain.Email(*req.Email)
		c.Email = &e
	}
	if req.Phone.Set {
		var p domain.Phone
		if req.Phone.Value != nil {
			p = domain.Phone(*req.Phone.Value)
		}
		c.Phone = &p
	}
	if req.ShippingAddress.Set {
		if req.ShippingAddress.Value == nil {
			c.RemoveShippingAddress = true
		} else {
			c.ShippingAddress = req.ShippingAddress.Value
		}
	}
	id := domain.CustomerID(pathVar(r, "id"))
	res, err := s.Commands.UpdateCustomer(r.Context(), s.metadata(r), id, c, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandDoc(w, r, http.StatusOK, res.Position, s.customerDoc(id), idVersion{ID: string(id), Version: res.Version})
}

// handleListCustomerEmails is GET /v1/customers/{id}/emails: the full email
// history, newest first, paged.
func (s *Server) handleListCustomerEmails(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Reader.CustomerEmails(r.Context(), pathVar(r, "id"), r.URL.Query().Get("cursor"), limit)
	if errors.Is(err, projections.ErrNotFound) {
		err = customer.ErrCustomerNotFound
	}
	s.writePage(w, r, page, err)
}

// handleSendReturnLabel is POST /v1/customers/{id}/return-label → 200 and
// the customer detail document. It records the request; the label PDF and
// the return_label email are made from it by issue 5's reactor and worker,
// and the document's return_label section fills in once the email is sent.
func (s *Server) handleSendReturnLabel(w http.ResponseWriter, r *http.Request) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeNoBody(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := domain.CustomerID(pathVar(r, "id"))
	res, err := s.Commands.RequestReturnLabel(r.Context(), s.metadata(r), id, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandDoc(w, r, http.StatusOK, res.Position, s.customerDoc(id), idVersion{ID: string(id), Version: res.Version})
}

func (s *Server) customerDoc(id domain.CustomerID) docLoader {
	return func(ctx context.Context) (projections.Doc, error) { return s.Reader.Customer(ctx, string(id)) }
}
