package command

import (
	"context"
	"errors"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
)

// DataKeys destroys the data keys that encrypt customers' personal fields
// in the event log (eventstore/crypto.Store implements it). Destroying a
// key is final and idempotent.
type DataKeys interface {
	EraseCustomerKey(ctx context.Context, customerID string) (time.Time, error)
}

// errNoDataKeys is a wiring mistake: a Service without Deps.DataKeys
// cannot erase anything.
var errNoDataKeys = errors.New("erasing personal data: the service has no data keys (command.Deps.DataKeys)")

// ErasePersonalData erases a customer's personal data (GDPR article 17;
// DELETE /v1/customers/{id}/personal-data): it destroys the customer's
// data key, then appends customer.personal_data_erased. The events stay;
// their personal fields read as null from then on, everywhere the log is
// read. Invoices keep their numbers, amounts, VAT, dates and the
// country of their addresses, which are not encrypted.
//
// The order matters. The read models react to the event by rebuilding the
// customer's rows from the customer's history (projections/erasure.go),
// which must by then read as erased: so the key goes first. A failure
// between the two leaves the key destroyed and the event missing; the
// data is unreadable already, and calling again (erasure is idempotent)
// appends the event, which the read models need to drop what they hold.
//
// ifMatch, when set, is a precondition checked before anything is
// destroyed (eventstore.ErrVersionMismatch); the event itself is then
// appended whatever else was appended meanwhile, so that an erasure that
// started always completes. An unknown or malformed id is
// customer.ErrCustomerNotFound, and destroys nothing. Erasing an erased
// customer appends nothing and returns the customer as they are.
//
// What this does not reach, by design of the layers: the HTTP layer's
// stored responses (http purges those after calling this), and anything a
// worker keeps outside the log (job arguments carry ids only; see
// workers/jobs.go).
func (s *Service) ErasePersonalData(ctx context.Context, md eventstore.Metadata, id domain.CustomerID, ifMatch *uint64) (CustomerResult, error) {
	if s.dataKeys == nil {
		return CustomerResult{}, errNoDataKeys
	}
	md, now := s.begin(md)
	current, err := s.Customer(ctx, id)
	if err != nil {
		return CustomerResult{}, err
	}
	if ifMatch != nil && *ifMatch != current.Version {
		return CustomerResult{}, eventstore.ErrVersionMismatch
	}
	if _, err := s.dataKeys.EraseCustomerKey(ctx, string(id)); err != nil {
		return CustomerResult{}, err
	}
	return s.customerCommand(ctx, md, id, nil, customer.ErasePersonalData{CustomerID: id, Actor: md.Actor, At: now})
}
