package customer_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
)

const id = domain.CustomerID("cus_ann")

var (
	t0   = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1   = t0.Add(24 * time.Hour)
	home = domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}
	work = domain.Address{Street: "Stationsplein 10", Zipcode: "3511 ED", City: "Utrecht", Country: "NL"}
)

func ptr[T any](v T) *T { return &v }

func registered() customer.Registered {
	return customer.Registered{
		CustomerID: id, FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com",
		Phone: "+31612345678", Address: home, RegisteredAt: t0,
	}
}

func register() customer.Register {
	return customer.Register{
		CustomerID: id, FirstName: " Ann ", LastName: "de Vries", Email: "ann@EXAMPLE.com",
		Phone: "+31 6 1234 5678", Address: domain.Address{Street: "Keizersgracht 1 ", Zipcode: "1015 CJ", City: "Amsterdam", Country: "nl"},
		At: t0.In(time.FixedZone("CET", 3600)),
	}
}

func erased() customer.PersonalDataErased {
	return customer.PersonalDataErased{CustomerID: id, Actor: "admin", ErasedAt: t1}
}

// spec is one given-events / when-command / then-events-or-error case.
type spec struct {
	name  string
	given []customer.Event
	when  customer.Command
	then  []customer.Event
	err   error  // a sentinel, or domain.ErrInvalid
	field string // the field a validation error names
}

func run(t *testing.T, specs []spec) {
	t.Helper()
	for _, sp := range specs {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			s := customer.Fold(sp.given...)
			got, err := customer.Decide(s, sp.when)
			if sp.err != nil {
				require.ErrorIs(t, err, sp.err)
				require.Nil(t, got)
				if sp.field != "" {
					var de *domain.Error
					require.ErrorAs(t, err, &de)
					require.Equal(t, sp.field, de.Field, "%v", err)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, sp.then, got)
			for _, e := range got {
				requireRoundTrip(t, e)
			}
		})
	}
}

func requireRoundTrip(t *testing.T, e customer.Event) {
	t.Helper()
	name, data, err := customer.Codec.Encode(e)
	require.NoError(t, err)
	back, err := customer.Codec.Decode(name, data)
	require.NoError(t, err)
	require.Equal(t, e, back)
}

func TestRegister(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", customer.MaxNameLength+1)
	with := func(f func(*customer.Register)) customer.Register { c := register(); f(&c); return c }
	run(t, []spec{
		{name: "normalises and records every field", when: register(), then: []customer.Event{registered()}},
		{
			name: "phone and shipping address are optional",
			when: with(func(c *customer.Register) { c.Phone = ""; c.ShippingAddress = &work }),
			then: []customer.Event{func() customer.Registered { e := registered(); e.Phone = ""; e.ShippingAddress = &work; return e }()},
		},
		{
			name: "a name of exactly 100 characters",
			when: with(func(c *customer.Register) { c.LastName = strings.Repeat("é", customer.MaxNameLength) }),
			then: []customer.Event{func() customer.Registered { e := registered(); e.LastName = strings.Repeat("é", 100); return e }()},
		},
		{name: "an id that is taken", given: []customer.Event{registered()}, when: register(), err: customer.ErrCustomerExists},
		{name: "an erased id stays taken", given: []customer.Event{registered(), erased()}, when: register(), err: customer.ErrCustomerExists},
		{name: "bad id", when: with(func(c *customer.Register) { c.CustomerID = "sub_1" }), err: domain.ErrInvalid, field: "customer_id"},
		{name: "no first name", when: with(func(c *customer.Register) { c.FirstName = "  " }), err: domain.ErrInvalid, field: "first_name"},
		{name: "no last name", when: with(func(c *customer.Register) { c.LastName = "" }), err: domain.ErrInvalid, field: "last_name"},
		{name: "long last name", when: with(func(c *customer.Register) { c.LastName = long }), err: domain.ErrInvalid, field: "last_name"},
		{name: "control character in a name", when: with(func(c *customer.Register) { c.FirstName = "Ann\x00" }), err: domain.ErrInvalid, field: "first_name"},
		{name: "invalid UTF-8 in a name", when: with(func(c *customer.Register) { c.FirstName = "Ann\xff" }), err: domain.ErrInvalid, field: "first_name"},
		{name: "bad email", when: with(func(c *customer.Register) { c.Email = "ann" }), err: domain.ErrInvalid, field: "email"},
		{name: "no email", when: with(func(c *customer.Register) { c.Email = "" }), err: domain.ErrInvalid, field: "email"},
		{name: "bad phone", when: with(func(c *customer.Register) { c.Phone = "0612345678" }), err: domain.ErrInvalid, field: "phone"},
		{name: "no city", when: with(func(c *customer.Register) { c.Address.City = "" }), err: domain.ErrInvalid, field: "address.city"},
		{name: "bad country", when: with(func(c *customer.Register) { c.Address.Country = "XX" }), err: domain.ErrInvalid, field: "address.country"},
		{
			name: "bad shipping zipcode",
			when: with(func(c *customer.Register) { c.ShippingAddress = &domain.Address{Street: "a", City: "b", Country: "NL"} }),
			err:  domain.ErrInvalid, field: "shipping_address.zipcode",
		},
		{name: "no time", when: with(func(c *customer.Register) { c.At = time.Time{} }), err: domain.ErrInvalid, field: "at"},
	})
}

func TestChangeDetails(t *testing.T) {
	t.Parallel()
	given := []customer.Event{registered()}
	withShipping := []customer.Event{func() customer.Registered { e := registered(); e.ShippingAddress = &work; return e }()}
	change := func(f func(*customer.ChangeDetails)) customer.ChangeDetails {
		c := customer.ChangeDetails{CustomerID: id, At: t1}
		f(&c)
		return c
	}
	run(t, []spec{
		{
			name:  "only the given fields change",
			given: given,
			when:  change(func(c *customer.ChangeDetails) { c.LastName = ptr(" Jansen "); c.Address = &work }),
			then:  []customer.Event{customer.DetailsChanged{CustomerID: id, LastName: ptr("Jansen"), Address: &work, ChangedAt: t1}},
		},
		{
			name:  "a field given with its current value is not recorded",
			given: given,
			when: change(func(c *customer.ChangeDetails) {
				c.FirstName = ptr("Ann")
				c.Email = ptr(domain.Email("bea@example.com"))
			}),
			then: []customer.Event{customer.DetailsChanged{CustomerID: id, Email: ptr(domain.Email("bea@example.com")), ChangedAt: t1}},
		},
		{
			name:  "an edit that changes nothing emits nothing",
			given: given,
			when: change(func(c *customer.ChangeDetails) {
				c.FirstName, c.LastName = ptr("Ann"), ptr("de Vries")
				c.Email = ptr(domain.Email("ann@Example.com")) // the same once normalised
				c.Phone = ptr(domain.Phone("+31 6 12 34 56 78"))
				c.Address = &home
				c.RemoveShippingAddress = true // there is none
			}),
		},
		{name: "an empty edit emits nothing", given: given, when: change(func(*customer.ChangeDetails) {})},
		{
			name:  "phone set to empty removes it",
			given: given,
			when:  change(func(c *customer.ChangeDetails) { c.Phone = ptr(domain.Phone("")) }),
			then:  []customer.Event{customer.DetailsChanged{CustomerID: id, Phone: ptr(domain.Phone("")), ChangedAt: t1}},
		},
		{
			name:  "phone changes",
			given: given,
			when:  change(func(c *customer.ChangeDetails) { c.Phone = ptr(domain.Phone("+32 470 12 34 56")) }),
			then:  []customer.Event{customer.DetailsChanged{CustomerID: id, Phone: ptr(domain.Phone("+32470123456")), ChangedAt: t1}},
		},
		{
			name:  "shipping address added",
			given: given,
			when:  change(func(c *customer.ChangeDetails) { c.ShippingAddress = &work }),
			then:  []customer.Event{customer.DetailsChanged{CustomerID: id, ShippingAddress: &work, ChangedAt: t1}},
		},
		{name: "shipping address unchanged", given: withShipping, when: change(func(c *customer.ChangeDetails) { c.ShippingAddress = &work })},
		{
			name:  "shipping address removed",
			given: withShipping,
			when:  change(func(c *customer.ChangeDetails) { c.RemoveShippingAddress = true }),
			then:  []customer.Event{customer.DetailsChanged{CustomerID: id, ShippingAddressRemoved: true, ChangedAt: t1}},
		},
		{
			name: "set and remove at once", given: withShipping,
			when: change(func(c *customer.ChangeDetails) { c.RemoveShippingAddress = true; c.ShippingAddress = &home }),
			err:  domain.ErrInvalid, field: "shipping_address",
		},
		{name: "empty first name", given: given, when: change(func(c *customer.ChangeDetails) { c.FirstName = ptr("") }), err: domain.ErrInvalid, field: "first_name"},
		{name: "long last name", given: given, when: change(func(c *customer.ChangeDetails) { c.LastName = ptr(strings.Repeat("x", 101)) }), err: domain.ErrInvalid, field: "last_name"},
		{name: "bad email", given: given, when: change(func(c *customer.ChangeDetails) { c.Email = ptr(domain.Email("x@y")) }), err: domain.ErrInvalid, field: "email"},
		{name: "bad phone", given: given, when: change(func(c *customer.ChangeDetails) { c.Phone = ptr(domain.Phone("+31 abc")) }), err: domain.ErrInvalid, field: "phone"},
		{
			name: "bad address", given: given,
			when: change(func(c *customer.ChangeDetails) {
				c.Address = &domain.Address{Street: "a", Zipcode: "b", City: "c", Country: "Holland"}
			}),
			err: domain.ErrInvalid, field: "address.country",
		},
		{
			name: "bad shipping address", given: given,
			when: change(func(c *customer.ChangeDetails) {
				c.ShippingAddress = &domain.Address{Zipcode: "b", City: "c", Country: "NL"}
			}),
			err: domain.ErrInvalid, field: "shipping_address.street",
		},
		{name: "unknown customer", when: change(func(c *customer.ChangeDetails) { c.FirstName = ptr("Bea") }), err: customer.ErrCustomerNotFound},
		{
			name: "another customer's stream", given: given,
			when: customer.ChangeDetails{CustomerID: "cus_bob", FirstName: ptr("Bob"), At: t1}, err: customer.ErrCustomerNotFound,
		},
		{
			name: "after erasure", given: []customer.Event{registered(), erased()},
			when: change(func(c *customer.ChangeDetails) { c.FirstName = ptr("Ann") }), err: customer.ErrPersonalDataErased,
		},
		{name: "no time", given: given, when: customer.ChangeDetails{CustomerID: id, FirstName: ptr("Bea")}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestRequestReturnLabel(t *testing.T) {
	t.Parallel()
	given := []customer.Event{registered()}
	req := customer.RequestReturnLabel{CustomerID: id, LabelID: "rl_1", At: t1}
	run(t, []spec{
		{name: "requested", given: given, when: req, then: []customer.Event{customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t1}}},
		{
			name:  "the same label again is a no-op",
			given: append(given, customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t0}),
			when:  req,
		},
		{
			name:  "another label for a lost one",
			given: append(given, customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_0", RequestedAt: t0}),
			when:  req,
			then:  []customer.Event{customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t1}},
		},
		{name: "no label id", given: given, when: customer.RequestReturnLabel{CustomerID: id, At: t1}, err: domain.ErrInvalid, field: "label_id"},
		{name: "bad label id", given: given, when: customer.RequestReturnLabel{CustomerID: id, LabelID: "rl 1", At: t1}, err: domain.ErrInvalid, field: "label_id"},
		{name: "no time", given: given, when: customer.RequestReturnLabel{CustomerID: id, LabelID: "rl_1"}, err: domain.ErrInvalid, field: "at"},
		{name: "unknown customer", when: req, err: customer.ErrCustomerNotFound},
		{name: "after erasure there is no one to mail", given: []customer.Event{registered(), erased()}, when: req, err: customer.ErrPersonalDataErased},
	})
}

func TestErasePersonalData(t *testing.T) {
	t.Parallel()
	given := []customer.Event{registered()}
	run(t, []spec{
		{
			name: "erased", given: given,
			when: customer.ErasePersonalData{CustomerID: id, Actor: " admin ", At: t1},
			then: []customer.Event{erased()},
		},
		{name: "twice is a no-op", given: []customer.Event{registered(), erased()}, when: customer.ErasePersonalData{CustomerID: id, Actor: "admin", At: t1}},
		{name: "no actor", given: given, when: customer.ErasePersonalData{CustomerID: id, At: t1}, err: domain.ErrInvalid, field: "actor"},
		{name: "no time", given: given, when: customer.ErasePersonalData{CustomerID: id, Actor: "admin"}, err: domain.ErrInvalid, field: "at"},
		{name: "unknown customer", when: customer.ErasePersonalData{CustomerID: id, Actor: "admin", At: t1}, err: customer.ErrCustomerNotFound},
	})
}

func TestLinkStripeCustomer(t *testing.T) {
	t.Parallel()
	linked := customer.StripeCustomerLinked{CustomerID: id, StripeCustomerID: "cus_NffrFeUfNV2Hib", LinkedAt: t1}
	cmd := customer.LinkStripeCustomer{CustomerID: id, StripeCustomerID: "cus_NffrFeUfNV2Hib", At: t1}
	run(t, []spec{
		{name: "linked", given: []customer.Event{registered()}, when: cmd, then: []customer.Event{linked}},
		{name: "the same again is a no-op", given: []customer.Event{registered(), linked}, when: cmd},
		{
			name: "another Stripe customer", given: []customer.Event{registered(), linked},
			when: customer.LinkStripeCustomer{CustomerID: id, StripeCustomerID: "cus_Other", At: t1}, err: customer.ErrStripeCustomerLinked,
		},
		{name: "after erasure", given: []customer.Event{registered(), erased()}, when: cmd, then: []customer.Event{linked}},
		{name: "not a Stripe customer id", given: []customer.Event{registered()}, when: customer.LinkStripeCustomer{CustomerID: id, StripeCustomerID: "pm_123", At: t1}, err: domain.ErrInvalid, field: "stripe_customer_id"},
		{name: "a bare prefix", given: []customer.Event{registered()}, when: customer.LinkStripeCustomer{CustomerID: id, StripeCustomerID: "cus_", At: t1}, err: domain.ErrInvalid, field: "stripe_customer_id"},
		{name: "no time", given: []customer.Event{registered()}, when: customer.LinkStripeCustomer{CustomerID: id, StripeCustomerID: "cus_1"}, err: domain.ErrInvalid, field: "at"},
		{name: "unknown customer", when: cmd, err: customer.ErrCustomerNotFound},
	})
	require.Equal(t, "cus_NffrFeUfNV2Hib", customer.Fold(registered(), linked).StripeCustomerID)
	require.Equal(t, "customer.stripe_customer_linked", linked.EventType())
}

func TestUnknownCommand(t *testing.T) {
	t.Parallel()
	_, err := customer.Decide(customer.State{}, nil)
	require.ErrorIs(t, err, domain.ErrInvalid)
}

func TestState(t *testing.T) {
	t.Parallel()
	t.Run("a fresh customer does not exist", func(t *testing.T) {
		t.Parallel()
		s := customer.Fold()
		require.False(t, s.Exists())
		_, ok := s.LastReturnLabel()
		require.False(t, ok)
	})
	t.Run("registered and edited", func(t *testing.T) {
		t.Parallel()
		s := customer.Fold(
			registered(),
			customer.DetailsChanged{CustomerID: id, LastName: ptr("Jansen"), ShippingAddress: &work, Phone: ptr(domain.Phone("")), ChangedAt: t1},
			customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t1},
		)
		require.True(t, s.Exists())
		require.Equal(t, "Ann Jansen", s.Name())
		require.Equal(t, domain.Phone(""), s.Phone)
		require.Equal(t, work, s.ShipsTo())
		require.Equal(t, home, s.Address)
		require.Equal(t, t0, s.RegisteredAt)
		l, ok := s.LastReturnLabel()
		require.True(t, ok)
		require.Equal(t, customer.ReturnLabel{LabelID: "rl_1", RequestedAt: t1}, l)

		s = customer.Evolve(s, customer.DetailsChanged{CustomerID: id, ShippingAddressRemoved: true, ChangedAt: t1})
		require.Nil(t, s.ShippingAddress)
		require.Equal(t, home, s.ShipsTo())
	})
	t.Run("erasure empties every personal field", func(t *testing.T) {
		t.Parallel()
		reg := registered()
		reg.ShippingAddress = &work
		s := customer.Fold(reg, customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t1}, erased())
		require.Equal(t, customer.State{
			ID:           id,
			RegisteredAt: t0,
			ReturnLabels: []customer.ReturnLabel{{LabelID: "rl_1", RequestedAt: t1}},
			Erased:       true,
			ErasedAt:     t1,
		}, s)
		require.Empty(t, s.Name())
	})
	t.Run("evolving never changes an earlier state", func(t *testing.T) {
		t.Parallel()
		base := customer.Fold(registered(), customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t0})
		a := customer.Evolve(base, customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_a", RequestedAt: t1})
		b := customer.Evolve(base, customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_b", RequestedAt: t1})
		require.Len(t, base.ReturnLabels, 1)
		require.Equal(t, "rl_a", a.ReturnLabels[1].LabelID)
		require.Equal(t, "rl_b", b.ReturnLabels[1].LabelID)
	})
	t.Run("folding the same events twice gives the same state", func(t *testing.T) {
		t.Parallel()
		events := []customer.Event{registered(), customer.DetailsChanged{CustomerID: id, Email: ptr(domain.Email("b@example.com")), ChangedAt: t1}, erased()}
		require.Equal(t, customer.Fold(events...), customer.Fold(events...))
	})
}

func TestStream(t *testing.T) {
	t.Parallel()
	require.Equal(t, "customer-cus_ann", customer.Stream(id))
}

func TestEventWireNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    customer.Event
		name string
		json string
	}{
		{registered(), "customer.registered", `{"customer_id":"cus_ann","first_name":"Ann","last_name":"de Vries","email":"ann@example.com",
			"phone":"+31612345678","address":{"street":"Keizersgracht 1","zipcode":"1015 CJ","city":"Amsterdam","country":"NL"},
			"registered_at":"2026-03-01T09:00:00Z"}`},
		{customer.DetailsChanged{CustomerID: id, Phone: ptr(domain.Phone("")), ShippingAddressRemoved: true, ChangedAt: t1}, "customer.details_changed",
			`{"customer_id":"cus_ann","phone":"","shipping_address_removed":true,"changed_at":"2026-03-02T09:00:00Z"}`},
		{customer.ReturnLabelRequested{CustomerID: id, LabelID: "rl_1", RequestedAt: t1}, "customer.return_label_requested",
			`{"customer_id":"cus_ann","label_id":"rl_1","requested_at":"2026-03-02T09:00:00Z"}`},
		{erased(), "customer.personal_data_erased", `{"customer_id":"cus_ann","actor":"admin","erased_at":"2026-03-02T09:00:00Z"}`},
	}
	for _, tt := range tests {
		name, data, err := customer.Codec.Encode(tt.e)
		require.NoError(t, err)
		require.Equal(t, tt.name, name)
		require.JSONEq(t, tt.json, string(data))
		requireRoundTrip(t, tt.e)
	}
}

// TestRegisteredV1IsUpcast is the event-versioning example: the first shape
// of customer.registered stored the full name in one field.
func TestRegisteredV1IsUpcast(t *testing.T) {
	t.Parallel()
	const address = `"address":{"street":"Keizersgracht 1","zipcode":"1015 CJ","city":"Amsterdam","country":"NL"}`
	tests := []struct {
		name        string
		stored      string
		first, last string
	}{
		{"split at the first space", `{"customer_id":"cus_ann","name":"Ann de Vries","email":"ann@example.com",` + address + `,"registered_at":"2026-03-01T09:00:00Z"}`, "Ann", "de Vries"},
		{"surrounding spaces are dropped", `{"customer_id":"cus_ann","name":"  Ann   de Vries ","email":"ann@example.com",` + address + `,"registered_at":"2026-03-01T09:00:00Z"}`, "Ann", "de Vries"},
		{"a single name is the first name", `{"customer_id":"cus_ann","name":"Ann","email":"ann@example.com",` + address + `,"registered_at":"2026-03-01T09:00:00Z"}`, "Ann", ""},
		{"the current shape is untouched", `{"customer_id":"cus_ann","first_name":"Ann","last_name":"de Vries","email":"ann@example.com",` + address + `,"registered_at":"2026-03-01T09:00:00Z"}`, "Ann", "de Vries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := customer.Codec.Decode("customer.registered", []byte(tt.stored))
			require.NoError(t, err)
			want := customer.Registered{CustomerID: id, FirstName: tt.first, LastName: tt.last, Email: "ann@example.com", Address: home, RegisteredAt: t0}
			require.Equal(t, want, got)
		})
	}

	t.Run("current data passes through byte for byte", func(t *testing.T) {
		t.Parallel()
		_, data, err := customer.Codec.Encode(registered())
		require.NoError(t, err)
		up, err := customer.UpcastRegisteredV1(data)
		require.NoError(t, err)
		require.Equal(t, string(data), string(up))
	})
	t.Run("a name that is not a string fails the decode", func(t *testing.T) {
		t.Parallel()
		_, err := customer.Codec.Decode("customer.registered", []byte(`{"customer_id":"cus_ann","name":42}`))
		var syntax *json.UnmarshalTypeError
		require.True(t, errors.As(err, &syntax), "%v", err)
	})
}
