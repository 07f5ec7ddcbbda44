package customer

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// The customer's business-rule errors.
var (
	// ErrCustomerNotFound: the command is for a customer that was never
	// registered.
	ErrCustomerNotFound = domain.NotFound("customer_not_found", "the customer does not exist")
	// ErrCustomerExists: Register on an id that is taken.
	ErrCustomerExists = domain.Conflict("customer_exists", "a customer with this id already exists")
	// ErrPersonalDataErased: the customer's personal data is erased, so
	// there are no details to edit and no address to mail a label to.
	ErrPersonalDataErased = domain.Conflict("personal_data_erased", "the customer's personal data has been erased")
	// ErrStripeCustomerLinked: the customer is linked to another Stripe
	// customer already.
	ErrStripeCustomerLinked = domain.Conflict("stripe_customer_already_linked", "the customer is linked to another Stripe customer")
)

// MaxNameLength is the longest first or last name, in characters.
const MaxNameLength = 100

// ParseName trims s and requires 1 to MaxNameLength characters of valid
// text without control characters; errors name field.
func ParseName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", domain.Invalid(field, "%s is required", field)
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameLength:
		return "", domain.Invalid(field, "%s must be valid text of at most %d characters", field, MaxNameLength)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", domain.Invalid(field, "%s must not contain control characters", field)
	}
	return s, nil
}

// Decide answers a command with the events it causes, or an error: a
// validation error (domain.ErrInvalid naming the request field) or one of
// the sentinels above. It is pure; time arrives in the command and is
// recorded in UTC.
func Decide(s State, c Command) ([]Event, error) {
	switch c := c.(type) {
	case Register:
		return register(s, c)
	case ChangeDetails:
		return changeDetails(s, c)
	case RequestReturnLabel:
		return requestReturnLabel(s, c)
	case ErasePersonalData:
		return erase(s, c)
	case LinkStripeCustomer:
		return linkStripeCustomer(s, c)
	}
	return nil, domain.Invalid("", "unknown customer command %T", c)
}

func register(s State, c Register) ([]Event, error) {
	if s.Exists() {
		return nil, ErrCustomerExists
	}
	id, err := domain.ParseCustomerID(string(c.CustomerID))
	if err != nil {
		return nil, err
	}
	if err := requireTime(c.At); err != nil {
		return nil, err
	}
	e := Registered{CustomerID: id, RegisteredAt: c.At.UTC()}
	if e.FirstName, err = ParseName("first_name", c.FirstName); err != nil {
		return nil, err
	}
	if e.LastName, err = ParseName("last_name", c.LastName); err != nil {
		return nil, err
	}
	if e.Email, err = domain.ParseEmail(string(c.Email)); err != nil {
		return nil, err
	}
	if c.Phone != "" {
		if e.Phone, err = domain.ParsePhone(string(c.Phone)); err != nil {
			return nil, err
		}
	}
	if e.Address, err = parseAddress("address", c.Address); err != nil {
		return nil, err
	}
	if c.ShippingAddress != nil {
		a, err := parseAddress("shipping_address", *c.ShippingAddress)
		if err != nil {
			return nil, err
		}
		e.ShippingAddress = &a
	}
	return []Event{e}, nil
}

func changeDetails(s State, c ChangeDetails) ([]Event, error) {
	if err := editable(s, c.CustomerID); err != nil {
		return nil, err
	}
	if err := requireTime(c.At); err != nil {
		return nil, err
	}
	if c.RemoveShippingAddress && c.ShippingAddress != nil {
		return nil, domain.Invalid("shipping_address", "shipping_address cannot be set and removed at once")
	}
	e := DetailsChanged{CustomerID: s.ID, ChangedAt: c.At.UTC()}
	changed := false
	if c.FirstName != nil {
		v, err := ParseName("first_name", *c.FirstName)
		if err != nil {
			return nil, err
		}
		if v != s.FirstName {
			e.FirstName, changed = &v, true
		}
	}
	if c.LastName != nil {
		v, err := ParseName("last_name", *c.LastName)
		if err != nil {
			return nil, err
		}
		if v != s.LastName {
			e.LastName, changed = &v, true
		}
	}
	if c.Email != nil {
		v, err := domain.ParseEmail(string(*c.Email))
		if err != nil {
			return nil, err
		}
		if v != s.Email {
			e.Email, changed = &v, true
		}
	}
	if c.Phone != nil {
		var v domain.Phone
		if strings.TrimSpace(string(*c.Phone)) != "" {
			var err error
			if v, err = domain.ParsePhone(string(*c.Phone)); err != nil {
				return nil, err
			}
		}
		if v != s.Phone {
			e.Phone, changed = &v, true
		}
	}
	if c.Address != nil {
		v, err := parseAddress("address", *c.Address)
		if err != nil {
			return nil, err
		}
		if v != s.Address {
			e.Address, changed = &v, true
		}
	}
	if c.ShippingAddress != nil {
		v, err := parseAddress("shipping_address", *c.ShippingAddress)
		if err != nil {
			return nil, err
		}
		if s.ShippingAddress == nil || v != *s.ShippingAddress {
			e.ShippingAddress, changed = &v, true
		}
	}
	if c.RemoveShippingAddress && s.ShippingAddress != nil {
		e.ShippingAddressRemoved, changed = true, true
	}
	if !changed {
		return nil, nil
	}
	return []Event{e}, nil
}

func requestReturnLabel(s State, c RequestReturnLabel) ([]Event, error) {
	if err := editable(s, c.CustomerID); err != nil {
		return nil, err
	}
	if err := requireTime(c.At); err != nil {
		return nil, err
	}
	if err := checkLabelID(c.LabelID); err != nil {
		return nil, err
	}
	for _, l := range s.ReturnLabels {
		if l.LabelID == c.LabelID {
			return nil, nil
		}
	}
	return []Event{ReturnLabelRequested{CustomerID: s.ID, LabelID: c.LabelID, RequestedAt: c.At.UTC()}}, nil
}

func erase(s State, c ErasePersonalData) ([]Event, error) {
	if err := sameCustomer(s, c.CustomerID); err != nil {
		return nil, err
	}
	if s.Erased {
		return nil, nil
	}
	if err := requireTime(c.At); err != nil {
		return nil, err
	}
	actor := strings.TrimSpace(c.Actor)
	if actor == "" {
		return nil, domain.Invalid("actor", "actor is required: erasure is audited")
	}
	return []Event{PersonalDataErased{CustomerID: s.ID, Actor: actor, ErasedAt: c.At.UTC()}}, nil
}

func linkStripeCustomer(s State, c LinkStripeCustomer) ([]Event, error) {
	if err := sameCustomer(s, c.CustomerID); err != nil {
		return nil, err
	}
	id := c.StripeCustomerID
	rest, ok := strings.CutPrefix(id, "cus_")
	ok = ok && rest != "" && len(id) <= 255
	for _, r := range rest {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}
	switch {
	case !ok:
		return nil, domain.Invalid("stripe_customer_id", "stripe_customer_id must be a Stripe customer id such as cus_NffrFeUfNV2Hib, got %q", id)
	case s.StripeCustomerID == id:
		return nil, nil
	case s.StripeCustomerID != "":
		return nil, ErrStripeCustomerLinked
	}
	if err := requireTime(c.At); err != nil {
		return nil, err
	}
	return []Event{StripeCustomerLinked{CustomerID: s.ID, StripeCustomerID: id, LinkedAt: c.At.UTC()}}, nil
}

// editable checks that the command is for this customer and that there are
// personal details left to work with.
func editable(s State, id domain.CustomerID) error {
	if err := sameCustomer(s, id); err != nil {
		return err
	}
	if s.Erased {
		return ErrPersonalDataErased
	}
	return nil
}

func sameCustomer(s State, id domain.CustomerID) error {
	if !s.Exists() || s.ID != id {
		return ErrCustomerNotFound
	}
	return nil
}

func parseAddress(field string, a domain.Address) (domain.Address, error) {
	v, err := domain.NewAddress(a.Street, a.Zipcode, a.City, string(a.Country))
	return v, domain.PrefixField(field, err)
}

func checkLabelID(id string) error {
	ok := id != "" && len(id) <= 64
	for _, r := range id {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-')
	}
	if !ok {
		return domain.Invalid("label_id", "label_id must be 1 to 64 letters, digits, _ or -, got %q", id)
	}
	return nil
}

func requireTime(at time.Time) error {
	if at.IsZero() {
		return domain.Invalid("at", "the command has no time")
	}
	return nil
}
