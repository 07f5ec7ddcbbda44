package command

import (
	"context"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
)

// CustomerResult is a customer after a use case.
type CustomerResult struct {
	Customer customer.State
	Written
}

// CreateCustomer registers a new customer under a fresh "cus_" id; c's
// CustomerID and At are set by the service. It appends
// customer.registered. Validation errors name the request field
// (first_name, address.city, ...).
func (s *Service) CreateCustomer(ctx context.Context, md eventstore.Metadata, c customer.Register) (CustomerResult, error) {
	md, now := s.begin(md)
	c.CustomerID = domain.CustomerID(NewID(domain.CustomerPrefix))
	c.At = now
	return s.customerCommand(ctx, md, c.CustomerID, nil, c)
}

// UpdateCustomer edits a customer's details (PATCH): only the fields set in
// c change, and customer.details_changed records only what actually
// changed (nothing at all for an edit that changes nothing). ifMatch, when
// set, is the version the caller saw: eventstore.ErrVersionMismatch when
// the customer has moved on.
func (s *Service) UpdateCustomer(ctx context.Context, md eventstore.Metadata, id domain.CustomerID, c customer.ChangeDetails, ifMatch *uint64) (CustomerResult, error) {
	md, now := s.begin(md)
	c.CustomerID, c.At = id, now
	return s.customerCommand(ctx, md, id, ifMatch, c)
}

// RequestReturnLabel records that a return label was asked for
// (customer.return_label_requested, with a fresh label id). The label PDF
// and the return_label email that carries it are made from that event by
// the email reactor and the mail worker (issue 5).
func (s *Service) RequestReturnLabel(ctx context.Context, md eventstore.Metadata, id domain.CustomerID, ifMatch *uint64) (CustomerResult, error) {
	md, now := s.begin(md)
	return s.customerCommand(ctx, md, id, ifMatch, customer.RequestReturnLabel{CustomerID: id, LabelID: NewID("rl_"), At: now})
}

// Customer loads a customer from its stream. An unknown or malformed id is
// customer.ErrCustomerNotFound.
func (s *Service) Customer(ctx context.Context, id domain.CustomerID) (CustomerResult, error) {
	if _, err := domain.ParseCustomerID(string(id)); err != nil {
		return CustomerResult{}, customer.ErrCustomerNotFound
	}
	st, v, err := eventstore.Load(ctx, s.store, customer.Aggregate, customer.Stream(id))
	if err != nil {
		return CustomerResult{}, err
	}
	if !st.Exists() {
		return CustomerResult{}, customer.ErrCustomerNotFound
	}
	return CustomerResult{Customer: st, Written: Written{Version: v}}, nil
}

func (s *Service) customerCommand(ctx context.Context, md eventstore.Metadata, id domain.CustomerID, ifMatch *uint64, c customer.Command) (CustomerResult, error) {
	if _, err := domain.ParseCustomerID(string(id)); err != nil {
		return CustomerResult{}, customer.ErrCustomerNotFound
	}
	res, w, err := execute(ctx, s, customer.Aggregate, customer.Stream(id), options(md, ifMatch), c)
	if err != nil {
		return CustomerResult{}, err
	}
	return CustomerResult{Customer: res.State, Written: w}, nil
}
