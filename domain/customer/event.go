package customer

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
)

// Event is the closed set of customer events.
type Event interface {
	domain.Event
	isEvent()
}

// Registered: the customer exists. Phone is "" when none was given;
// ShippingAddress is nil when orders ship to Address.
type Registered struct {
	CustomerID      domain.CustomerID `json:"customer_id"`
	FirstName       string            `json:"first_name"`
	LastName        string            `json:"last_name"`
	Email           domain.Email      `json:"email"`
	Phone           domain.Phone      `json:"phone,omitempty"`
	Address         domain.Address    `json:"address"`
	ShippingAddress *domain.Address   `json:"shipping_address,omitempty"`
	RegisteredAt    time.Time         `json:"registered_at"`
}

// DetailsChanged carries only the fields that changed; a nil field did not.
// Phone pointing at "" means the phone was removed.
type DetailsChanged struct {
	CustomerID             domain.CustomerID `json:"customer_id"`
	FirstName              *string           `json:"first_name,omitempty"`
	LastName               *string           `json:"last_name,omitempty"`
	Email                  *domain.Email     `json:"email,omitempty"`
	Phone                  *domain.Phone     `json:"phone,omitempty"`
	Address                *domain.Address   `json:"address,omitempty"`
	ShippingAddress        *domain.Address   `json:"shipping_address,omitempty"`
	ShippingAddressRemoved bool              `json:"shipping_address_removed,omitempty"`
	ChangedAt              time.Time         `json:"changed_at"`
}

// ReturnLabelRequested: a return label was asked for. The return_label email
// (with the PDF attached) is planned from this event by the email policy.
type ReturnLabelRequested struct {
	CustomerID  domain.CustomerID `json:"customer_id"`
	LabelID     string            `json:"label_id"`
	RequestedAt time.Time         `json:"requested_at"`
}

// PersonalDataErased: the customer's personal fields are gone. It carries no
// personal data itself, so it stays readable after the key is deleted.
type PersonalDataErased struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	Actor      string            `json:"actor"`
	ErasedAt   time.Time         `json:"erased_at"`
}

// StripeCustomerLinked: the customer's Stripe customer object.
type StripeCustomerLinked struct {
	CustomerID       domain.CustomerID `json:"customer_id"`
	StripeCustomerID string            `json:"stripe_customer_id"`
	LinkedAt         time.Time         `json:"linked_at"`
}

// EventType returns the stored name "customer.registered".
func (Registered) EventType() string { return "customer.registered" }

// EventType returns the stored name "customer.details_changed".
func (DetailsChanged) EventType() string { return "customer.details_changed" }

// EventType returns the stored name "customer.return_label_requested".
func (ReturnLabelRequested) EventType() string { return "customer.return_label_requested" }

// EventType returns the stored name "customer.stripe_customer_linked".
func (StripeCustomerLinked) EventType() string { return "customer.stripe_customer_linked" }

// EventType returns the stored name "customer.personal_data_erased".
func (PersonalDataErased) EventType() string { return "customer.personal_data_erased" }

func (Registered) isEvent()           {}
func (DetailsChanged) isEvent()       {}
func (ReturnLabelRequested) isEvent() {}
func (PersonalDataErased) isEvent()   {}
func (StripeCustomerLinked) isEvent() {}

// Codec stores and loads customer events, upcasting old shapes.
var Codec = domain.NewCodec[Event]()

func init() {
	domain.Register[Registered](Codec)
	domain.Register[DetailsChanged](Codec)
	domain.Register[ReturnLabelRequested](Codec)
	domain.Register[PersonalDataErased](Codec)
	domain.Register[StripeCustomerLinked](Codec)
	Codec.Upcast(Registered{}.EventType(), UpcastRegisteredV1)
}

// UpcastRegisteredV1 rewrites the first shape of customer.registered, which
// held the full name in one field ({"name": "Ann de Vries"}), into the
// current first_name/last_name pair: the name is split at its first space
// ("Ann" / "de Vries"); a name without a space becomes the first name with
// an empty last name, since there is no way to tell which it was. Data that
// already has first_name, or has no name at all, is returned unchanged.
func UpcastRegisteredV1(data []byte) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	raw, ok := doc["name"]
	if !ok {
		return data, nil
	}
	if _, current := doc["first_name"]; current {
		return data, nil
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return nil, err
	}
	first, last, _ := strings.Cut(strings.TrimSpace(name), " ")
	delete(doc, "name")
	doc["first_name"], _ = json.Marshal(first)
	doc["last_name"], _ = json.Marshal(strings.TrimSpace(last))
	return json.Marshal(doc)
}
