package http

import (
	"context"
	"net/http"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/projections"
)

// createOrderRequest is the body of POST /v1/orders: a one-off order.
type createOrderRequest struct {
	CustomerID     string             `json:"customer_id"`
	Items          []orderItemRequest `json:"items"`
	DeliveryMethod string             `json:"delivery_method"`
	// Discount is optional money off the order's subtotal.
	Discount domain.Money `json:"discount"`
	// BillingAddress defaults to the customer's address.
	BillingAddress *domain.Address `json:"billing_address"`
	// ShippingAddress defaults to the customer's shipping address (or the
	// billing address when the customer has none).
	ShippingAddress *domain.Address `json:"shipping_address"`
}

// orderItemRequest is one line of a one-off order; unit_price includes VAT.
type orderItemRequest struct {
	ProductID string       `json:"product_id"`
	Name      string       `json:"name"`
	Quantity  int          `json:"quantity"`
	UnitPrice domain.Money `json:"unit_price"`
}

// trackingRequest is the body of POST /v1/orders/{id}/tracking.
type trackingRequest struct {
	TrackingCode string `json:"tracking_code"`
	TrackingURL  string `json:"tracking_url"`
	Carrier      string `json:"carrier"`
}

// handleCreateOrder is POST /v1/orders → 201 and the order document: the
// order (to_be_sent, or to_be_picked_up for pickup) and its invoice are
// made at once; the charge is taken by the payment reactor (issue 5).
func (s *Server) handleCreateOrder(w http.ResponseWriter, r *http.Request) {
	var req createOrderRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.DeliveryMethod == "" {
		s.writeError(w, r, required("delivery_method"))
		return
	}
	in := command.NewOrder{
		CustomerID:      domain.CustomerID(req.CustomerID),
		DeliveryMethod:  order.DeliveryMethod(req.DeliveryMethod),
		Discount:        req.Discount,
		BillingAddress:  req.BillingAddress,
		ShippingAddress: req.ShippingAddress,
	}
	for _, it := range req.Items {
		in.Items = append(in.Items, domain.Line{ProductID: domain.ProductID(it.ProductID), Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice})
	}
	res, err := s.Commands.CreateOrder(r.Context(), s.metadata(r), in)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := res.Order.ID
	w.Header().Set("Location", "/v1/orders/"+string(id))
	// The order's position is its last append's, after its invoice's.
	s.writeCommandDoc(w, r, http.StatusCreated, res.Position, s.orderDoc(id), idVersion{ID: string(id), Version: res.Version})
}

// handleGetOrder is GET /v1/orders/{id}: the order page.
func (s *Server) handleGetOrder(w http.ResponseWriter, r *http.Request) {
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, err := s.Reader.Order(r.Context(), pathVar(r, "id"))
	s.writeDoc(w, r, doc, order.ErrOrderNotFound, err)
}

// handleAddTracking is POST /v1/orders/{id}/tracking: the order is sent and
// the shipping email planned; 409 track_and_trace_disabled while the email
// setting is off.
func (s *Server) handleAddTracking(w http.ResponseWriter, r *http.Request) {
	var req trackingRequest
	s.orderCommand(w, r, &req, func(ctx context.Context, id domain.OrderID, ifm *uint64) (command.OrderResult, error) {
		return s.Commands.AddTracking(ctx, s.metadata(r), id, req.TrackingCode, req.TrackingURL, req.Carrier, ifm)
	})
}

// handleConfirmPickup is POST /v1/orders/{id}/pickup: picked_up, with the
// time.
func (s *Server) handleConfirmPickup(w http.ResponseWriter, r *http.Request) {
	s.orderCommand(w, r, nil, func(ctx context.Context, id domain.OrderID, ifm *uint64) (command.OrderResult, error) {
		return s.Commands.ConfirmPickup(ctx, s.metadata(r), id, ifm)
	})
}

// orderCommand runs one command on the order of the path and answers 200
// with the order document.
func (s *Server) orderCommand(w http.ResponseWriter, r *http.Request, req any, run func(context.Context, domain.OrderID, *uint64) (command.OrderResult, error)) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req == nil {
		err = decodeNoBody(w, r)
	} else {
		err = decodeJSON(w, r, req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := domain.OrderID(pathVar(r, "id"))
	res, err := run(r.Context(), id, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandDoc(w, r, http.StatusOK, res.Position, s.orderDoc(id), idVersion{ID: string(id), Version: res.Version})
}

func (s *Server) orderDoc(id domain.OrderID) docLoader {
	return func(ctx context.Context) (projections.Doc, error) { return s.Reader.Order(ctx, string(id)) }
}

// handleGetInvoice is GET /v1/invoices/{id}.
func (s *Server) handleGetInvoice(w http.ResponseWriter, r *http.Request) {
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, err := s.Reader.Invoice(r.Context(), pathVar(r, "id"))
	s.writeDoc(w, r, doc, invoice.ErrInvoiceNotFound, err)
}
