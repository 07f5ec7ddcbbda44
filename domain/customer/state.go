package customer

import (
	"slices"
	"time"

	"github.com/subsd/subsd/domain"
)

// StreamPrefix starts the name of every customer stream.
const StreamPrefix = "customer-"

// Stream returns the name of the customer's stream.
func Stream(id domain.CustomerID) string { return StreamPrefix + string(id) }

// State is a customer as its history made it. The zero State is a customer
// that does not exist yet.
type State struct {
	ID        domain.CustomerID
	FirstName string
	LastName  string
	Email     domain.Email
	// Phone is "" when the customer gave none.
	Phone   domain.Phone
	Address domain.Address
	// ShippingAddress is nil when orders ship to Address.
	ShippingAddress *domain.Address
	RegisteredAt    time.Time
	// StripeCustomerID is the Stripe customer object, "" until linked.
	StripeCustomerID string
	// ReturnLabels lists every return label requested, oldest first.
	ReturnLabels []ReturnLabel
	// Erased is set once the personal data is erased; the personal fields
	// above are then empty and stay so.
	Erased   bool
	ErasedAt time.Time
}

// ReturnLabel is one requested return label.
type ReturnLabel struct {
	LabelID     string
	RequestedAt time.Time
}

// Exists reports whether the customer was registered.
func (s State) Exists() bool { return s.ID != "" }

// Name returns "first last", or "" after erasure.
func (s State) Name() string {
	switch {
	case s.FirstName == "":
		return s.LastName
	case s.LastName == "":
		return s.FirstName
	}
	return s.FirstName + " " + s.LastName
}

// ShipsTo returns the address orders ship to.
func (s State) ShipsTo() domain.Address {
	if s.ShippingAddress != nil {
		return *s.ShippingAddress
	}
	return s.Address
}

// LastReturnLabel returns the most recent return label, if any.
func (s State) LastReturnLabel() (ReturnLabel, bool) {
	if len(s.ReturnLabels) == 0 {
		return ReturnLabel{}, false
	}
	return s.ReturnLabels[len(s.ReturnLabels)-1], true
}

// Evolve applies one event. It never fails and never computes: every value
// comes from the event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case Registered:
		s.ID = e.CustomerID
		s.FirstName, s.LastName = e.FirstName, e.LastName
		s.Email, s.Phone = e.Email, e.Phone
		s.Address = e.Address
		s.ShippingAddress = cloneAddress(e.ShippingAddress)
		s.RegisteredAt = e.RegisteredAt
	case DetailsChanged:
		if e.FirstName != nil {
			s.FirstName = *e.FirstName
		}
		if e.LastName != nil {
			s.LastName = *e.LastName
		}
		if e.Email != nil {
			s.Email = *e.Email
		}
		if e.Phone != nil {
			s.Phone = *e.Phone
		}
		if e.Address != nil {
			s.Address = *e.Address
		}
		if e.ShippingAddress != nil {
			s.ShippingAddress = cloneAddress(e.ShippingAddress)
		}
		if e.ShippingAddressRemoved {
			s.ShippingAddress = nil
		}
	case ReturnLabelRequested:
		// Clip first so the append copies: an older State never sees the label.
		s.ReturnLabels = append(slices.Clip(s.ReturnLabels), ReturnLabel{LabelID: e.LabelID, RequestedAt: e.RequestedAt})
	case StripeCustomerLinked:
		s.StripeCustomerID = e.StripeCustomerID
	case PersonalDataErased:
		s.FirstName, s.LastName = "", ""
		s.Email, s.Phone = "", ""
		s.Address, s.ShippingAddress = domain.Address{}, nil
		s.Erased, s.ErasedAt = true, e.ErasedAt
	}
	return s
}

func cloneAddress(a *domain.Address) *domain.Address {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

// Aggregate describes the customer aggregate to the command runner.
var Aggregate = domain.Aggregate[State, Command, Event]{Codec: Codec, Decide: Decide, Evolve: Evolve}

// Fold returns the state after events, starting from a customer that does
// not exist.
func Fold(events ...Event) State { return Aggregate.Fold(events...) }
