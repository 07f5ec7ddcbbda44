// Package customer is the customer aggregate: a person's name and contact
// details, the return labels sent to them, the Stripe customer they are
// linked to, and the erasure of their personal data.
//
// Seed "Viewing Customer Details" → this package:
//
//	Customer details (name, email, phone,    Register → Registered
//	  street, zipcode, city, country)
//	Edit                                     ChangeDetails → DetailsChanged (only what changed)
//	Return label ("Send return label")       RequestReturnLabel → ReturnLabelRequested (the email
//	                                           policy plans the return_label email from it)
//	Erasure (DELETE .../personal-data)       ErasePersonalData → PersonalDataErased
//	Stripe Dashboard (subscription page)     LinkStripeCustomer → StripeCustomerLinked
//
// After erasure the personal fields of State are empty and stay so: details
// cannot be edited and no label can be sent (ErrPersonalDataErased). The
// events before it keep their shape; the event store's per-customer key is
// what makes their personal fields unreadable.
package customer

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Command is the closed set of things that can be asked of a customer.
type Command interface{ isCommand() }

// Register creates the customer. Every field is validated and normalised by
// Decide (names trimmed, the email's domain lower-cased, the phone in E.164);
// validation errors name the JSON path of the API request (first_name,
// address.city, shipping_address.country, ...).
//
// Registering an id that already exists is ErrCustomerExists: a repeated
// POST is answered by the HTTP layer's Idempotency-Key, not by the domain.
type Register struct {
	CustomerID domain.CustomerID
	FirstName  string
	LastName   string
	Email      domain.Email
	// Phone is optional; "" means none.
	Phone   domain.Phone
	Address domain.Address
	// ShippingAddress is optional; nil means orders ship to Address.
	ShippingAddress *domain.Address
	At              time.Time
}

// ChangeDetails is a partial edit (PATCH): a nil field is left as it is.
// Only the fields whose normalised value differs from the current one are
// recorded, so an edit that changes nothing emits nothing.
type ChangeDetails struct {
	CustomerID domain.CustomerID
	FirstName  *string
	LastName   *string
	Email      *domain.Email
	// Phone set to "" removes the phone number.
	Phone           *domain.Phone
	Address         *domain.Address
	ShippingAddress *domain.Address
	// RemoveShippingAddress drops the separate shipping address (JSON
	// "shipping_address": null), so orders ship to Address again. It cannot
	// be combined with ShippingAddress.
	RemoveShippingAddress bool
	At                    time.Time
}

// RequestReturnLabel records that a return label was asked for. The label
// (a PDF) is made by a worker and mailed as the return_label email, which the
// email policy plans from the resulting event. LabelID is minted by the
// caller (1 to 64 of [A-Za-z0-9_-]) and names the PDF; repeating a request
// with the same LabelID is a no-op.
type RequestReturnLabel struct {
	CustomerID domain.CustomerID
	LabelID    string
	At         time.Time
}

// ErasePersonalData erases the customer's personal fields (GDPR article
// 17). The event stays in the log; the store's per-customer key is what
// makes the fields in earlier events unreadable. Actor names who asked
// (required, for the audit trail). Erasing twice is a no-op.
type ErasePersonalData struct {
	CustomerID domain.CustomerID
	Actor      string
	At         time.Time
}

// LinkStripeCustomer records the Stripe customer object the payment worker
// created for this customer ("cus_..." in Stripe's id space), which the
// subscription page's "Stripe Dashboard" button opens. Linking the same id
// again is a no-op; a customer has one Stripe customer, so another id is
// ErrStripeCustomerLinked. It is allowed after erasure: the id is no
// personal data, and the Stripe record is where the rest is erased.
type LinkStripeCustomer struct {
	CustomerID       domain.CustomerID
	StripeCustomerID string
	At               time.Time
}

func (Register) isCommand()           {}
func (LinkStripeCustomer) isCommand() {}
func (ChangeDetails) isCommand()      {}
func (RequestReturnLabel) isCommand() {}
func (ErasePersonalData) isCommand()  {}
