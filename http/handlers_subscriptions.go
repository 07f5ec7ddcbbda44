package http

import (
	"context"
	"fmt"
	"net/http"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/projections"
)

// createSubscriptionRequest is the body of POST /v1/subscriptions.
type createSubscriptionRequest struct {
	CustomerID string       `json:"customer_id"`
	Plan       *planRequest `json:"plan"`
	// TermCycles is the number of cycles charged; absent or null is
	// open-ended.
	TermCycles     *int   `json:"term_cycles"`
	DeliveryMethod string `json:"delivery_method"`
	// PaymentMethodID is Stripe's payment method id, optional.
	PaymentMethodID string           `json:"payment_method_id"`
	Products        []productRequest `json:"products"`
}

// planRequest is a subscription's plan: price (money) every interval.
type planRequest struct {
	Name     string          `json:"name"`
	Price    domain.Money    `json:"price"`
	Interval domain.Interval `json:"interval"`
}

// productRequest is an active product as a request gives it. Quantity
// defaults to 1, interval to the plan's, first_shipment_on to today (in the
// business time zone); price is absent for a product included in the plan.
type productRequest struct {
	ProductID       string           `json:"product_id"`
	Name            string           `json:"name"`
	Quantity        *int             `json:"quantity"`
	Interval        *domain.Interval `json:"interval"`
	FirstShipmentOn domain.Date      `json:"first_shipment_on"`
	// NextShipmentOn is first_shipment_on by the name the pages (and PATCH)
	// give it, so a product can be sent back as it was read.
	NextShipmentOn domain.Date   `json:"next_shipment_on"`
	Price          *domain.Money `json:"price"`
}

// product returns the product to add; field is where the request holds it
// ("products[0]"), for the error when its two names for the first shipment
// disagree.
func (p productRequest) product(field string) (subscription.NewProduct, error) {
	np := subscription.NewProduct{
		ProductID: domain.ProductID(p.ProductID), Name: p.Name, Quantity: 1,
		FirstShipmentOn: p.FirstShipmentOn, Price: p.Price,
	}
	if !p.NextShipmentOn.IsZero() {
		if !p.FirstShipmentOn.IsZero() && p.FirstShipmentOn != p.NextShipmentOn {
			return np, domain.Invalid(join(field, "next_shipment_on"), "next_shipment_on and first_shipment_on name the same date; they differ")
		}
		np.FirstShipmentOn = p.NextShipmentOn
	}
	if p.Quantity != nil {
		np.Quantity = *p.Quantity
	}
	if p.Interval != nil {
		np.Interval = *p.Interval
	}
	return np, nil
}

// cancelRequest is the body of POST /v1/subscriptions/{id}/cancel.
type cancelRequest struct {
	AtPeriodEnd *bool  `json:"at_period_end"`
	Reason      string `json:"reason"`
}

// updateProductRequest is the body of PATCH
// /v1/subscriptions/{id}/products/{product_id}: one or both.
type updateProductRequest struct {
	Interval       *domain.Interval `json:"interval"`
	NextShipmentOn *domain.Date     `json:"next_shipment_on"`
}

// handleCreateSubscription is POST /v1/subscriptions → 201 and the
// subscription document, status pending: the first charge is due and
// invoiced at once, and the subscription becomes active when it is paid.
func (s *Server) handleCreateSubscription(w http.ResponseWriter, r *http.Request) {
	var req createSubscriptionRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Plan == nil {
		s.writeError(w, r, required("plan"))
		return
	}
	if req.DeliveryMethod == "" {
		s.writeError(w, r, required("delivery_method"))
		return
	}
	c := subscription.Create{
		CustomerID:      domain.CustomerID(req.CustomerID),
		Plan:            subscription.Plan{Name: req.Plan.Name, Price: req.Plan.Price, Interval: req.Plan.Interval},
		TermCycles:      req.TermCycles,
		DeliveryMethod:  subscription.DeliveryMethod(req.DeliveryMethod),
		PaymentMethodID: req.PaymentMethodID,
	}
	for i, p := range req.Products {
		np, err := p.product(fmt.Sprintf("products[%d]", i))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		c.Products = append(c.Products, np)
	}
	res, err := s.Commands.CreateSubscription(r.Context(), s.metadata(r), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := res.Subscription.ID
	w.Header().Set("Location", "/v1/subscriptions/"+string(id))
	s.writeCommandDoc(w, r, http.StatusCreated, res.Position, s.subscriptionDoc(id), idVersion{ID: string(id), Version: res.Version})
}

// handleGetSubscription is GET /v1/subscriptions/{id}: the subscription page.
func (s *Server) handleGetSubscription(w http.ResponseWriter, r *http.Request) {
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, err := s.Reader.Subscription(r.Context(), pathVar(r, "id"))
	s.writeDoc(w, r, doc, subscription.ErrSubscriptionNotFound, err)
}

// handleCancelSubscription is POST /v1/subscriptions/{id}/cancel
// {at_period_end, reason?}: at once (canceled) or at the end of the current
// cycle (canceling).
func (s *Server) handleCancelSubscription(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	s.subscriptionCommand(w, r, &req, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		if req.AtPeriodEnd == nil {
			return command.SubscriptionResult{}, required("at_period_end")
		}
		return s.Commands.CancelSubscription(ctx, s.metadata(r), id, subscription.Cancel{AtPeriodEnd: *req.AtPeriodEnd, Reason: req.Reason}, ifm)
	})
}

// handlePauseSubscription is POST /v1/subscriptions/{id}/pause.
func (s *Server) handlePauseSubscription(w http.ResponseWriter, r *http.Request) {
	s.subscriptionCommand(w, r, nil, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		return s.Commands.PauseSubscription(ctx, s.metadata(r), id, ifm)
	})
}

// handleResumeSubscription is POST /v1/subscriptions/{id}/resume.
func (s *Server) handleResumeSubscription(w http.ResponseWriter, r *http.Request) {
	s.subscriptionCommand(w, r, nil, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		return s.Commands.ResumeSubscription(ctx, s.metadata(r), id, ifm)
	})
}

// handleAddProduct is POST /v1/subscriptions/{id}/products: an active
// product, as productRequest.
func (s *Server) handleAddProduct(w http.ResponseWriter, r *http.Request) {
	var req productRequest
	s.subscriptionCommand(w, r, &req, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		np, err := req.product("")
		if err != nil {
			return command.SubscriptionResult{}, err
		}
		return s.Commands.AddProduct(ctx, s.metadata(r), id, np, ifm)
	})
}

// handleUpdateProduct is PATCH /v1/subscriptions/{id}/products/{product_id}
// {interval?, next_shipment_on?}: both in one append.
func (s *Server) handleUpdateProduct(w http.ResponseWriter, r *http.Request) {
	var req updateProductRequest
	s.subscriptionCommand(w, r, &req, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		return s.Commands.UpdateProduct(ctx, s.metadata(r), id, productID(r), req.Interval, req.NextShipmentOn, ifm)
	})
}

// handleRemoveProduct is DELETE /v1/subscriptions/{id}/products/{product_id}.
func (s *Server) handleRemoveProduct(w http.ResponseWriter, r *http.Request) {
	s.subscriptionCommand(w, r, nil, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		return s.Commands.RemoveProduct(ctx, s.metadata(r), id, productID(r), ifm)
	})
}

// handleShipNow is POST .../products/{product_id}/ship-now: the order is
// made today (its page is named by the Location header) and the next
// shipment moves one interval from today.
func (s *Server) handleShipNow(w http.ResponseWriter, r *http.Request) {
	s.subscriptionCommand(w, r, nil, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		res, err := s.Commands.ShipNow(ctx, s.metadata(r), id, productID(r), ifm)
		if err == nil && res.Order != nil {
			w.Header().Set("Location", "/v1/orders/"+string(res.Order.Order.ID))
		}
		return res, err
	})
}

// handleSkipShipment is POST .../products/{product_id}/skip: the next
// shipment moves one interval on, without an order.
func (s *Server) handleSkipShipment(w http.ResponseWriter, r *http.Request) {
	s.subscriptionCommand(w, r, nil, func(ctx context.Context, id domain.SubscriptionID, ifm *uint64) (command.SubscriptionResult, error) {
		return s.Commands.SkipShipment(ctx, s.metadata(r), id, productID(r), ifm)
	})
}

// subscriptionCommand runs one command on the subscription of the path:
// If-Match, the body (into req; nil for commands without input), the
// command, and the answer (200 and the subscription document).
func (s *Server) subscriptionCommand(w http.ResponseWriter, r *http.Request, req any, run func(context.Context, domain.SubscriptionID, *uint64) (command.SubscriptionResult, error)) {
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
	id := domain.SubscriptionID(pathVar(r, "id"))
	res, err := run(r.Context(), id, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandDoc(w, r, http.StatusOK, res.Position, s.subscriptionDoc(id), idVersion{ID: string(id), Version: res.Version})
}

// productID returns the product of the path. A malformed one names no
// product the subscription can have: 404 product_not_found.
func productID(r *http.Request) domain.ProductID {
	return domain.ProductID(pathVar(r, "product_id"))
}

func (s *Server) subscriptionDoc(id domain.SubscriptionID) docLoader {
	return func(ctx context.Context) (projections.Doc, error) { return s.Reader.Subscription(ctx, string(id)) }
}
