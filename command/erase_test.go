package command_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/crypto"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

type erasureBundle struct {
	*bundle
	crypto *crypto.Store
}

// setupErasure is setup with the personal-data encryption the service runs
// with.
func setupErasure(t *testing.T) *erasureBundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, crypto.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	store, err := crypto.New(postgres.New(pool), pool, make([]byte, crypto.MasterKeySize))
	require.NoError(t, err)
	b := &bundle{store: store, now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	b.svc = command.New(command.Deps{Store: store, Pool: pool, Clock: func() time.Time { return b.now },
		Location: amsterdam, DataKeys: store})
	b.md = eventstore.Metadata{Actor: "admin", CorrelationID: "req-1"}
	return &erasureBundle{bundle: b, crypto: store}
}

func TestErasePersonalData(t *testing.T) {
	t.Parallel()
	b := setupErasure(t)
	ctx := t.Context()
	// Given a customer with a one-off order (billing address on the order),
	cus := b.customer(t)
	ord, err := b.svc.CreateOrder(ctx, b.md, command.NewOrder{
		CustomerID: cus.ID, DeliveryMethod: order.Delivery,
		Items: []domain.Line{{ProductID: "beans", Name: "Beans", Quantity: 1, UnitPrice: domain.Cents(1000)}},
	})
	require.NoError(t, err)

	// when their personal data is erased,
	b.now = b.now.Add(time.Hour)
	res, err := b.svc.ErasePersonalData(ctx, b.md, cus.ID, nil)
	require.NoError(t, err)

	// then the customer is erased, as of now, by the request's actor,
	require.True(t, res.Customer.Erased)
	require.Equal(t, b.now, res.Customer.ErasedAt)
	require.Equal(t, uint64(2), res.Version)
	events, err := b.store.ReadStream(ctx, customer.Stream(cus.ID), 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, "customer.personal_data_erased", events[1].Type)
	require.JSONEq(t, `{"customer_id":"`+string(cus.ID)+`","actor":"admin","erased_at":"2026-11-21T11:00:00Z"}`, string(events[1].Data))

	// and their personal fields read as null everywhere in the log, the
	// registration's and the order's alike, while the rest stays.
	var reg map[string]any
	require.NoError(t, json.Unmarshal(events[0].Data, &reg))
	require.Nil(t, reg["first_name"])
	require.Nil(t, reg["email"])
	orders, err := b.store.ReadStream(ctx, order.Stream(ord.Order.ID), 1, 10)
	require.NoError(t, err)
	var created map[string]any
	require.NoError(t, json.Unmarshal(orders[0].Data, &created))
	require.Equal(t, map[string]any{"street": nil, "zipcode": nil, "city": nil, "country": "NL"}, created["billing_address"])
	require.Equal(t, string(ord.Order.Number), created["number"])
	require.NotNil(t, created["total"])

	// Erasing again appends nothing.
	again, err := b.svc.ErasePersonalData(ctx, b.md, cus.ID, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(2), again.Version)
	require.True(t, again.Customer.Erased)
}

func TestErasePersonalDataRefusals(t *testing.T) {
	t.Parallel()
	b := setupErasure(t)
	ctx := t.Context()

	// An unknown customer: not found, and no key is touched.
	_, err := b.svc.ErasePersonalData(ctx, b.md, "cus_nobody", nil)
	require.ErrorIs(t, err, customer.ErrCustomerNotFound)
	_, err = b.svc.ErasePersonalData(ctx, b.md, "not an id", nil)
	require.ErrorIs(t, err, customer.ErrCustomerNotFound)

	// A stale If-Match: nothing is destroyed.
	cus := b.customer(t)
	_, err = b.svc.ErasePersonalData(ctx, b.md, cus.ID, ptr(uint64(7)))
	require.ErrorIs(t, err, eventstore.ErrVersionMismatch)
	events, err := b.store.ReadStream(ctx, customer.Stream(cus.ID), 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Contains(t, string(events[0].Data), "ann@example.com", "the key is still there")
	_, err = b.svc.ErasePersonalData(ctx, b.md, cus.ID, ptr(uint64(1)))
	require.NoError(t, err)

	// A service wired without data keys cannot erase.
	plain := command.New(command.Deps{Store: b.store, Pool: pgtest.NewPool(t)})
	_, err = plain.ErasePersonalData(ctx, b.md, cus.ID, nil)
	require.ErrorContains(t, err, "command.Deps.DataKeys")
}

// TestEraseCompletesAfterAFailure: a failure between destroying the key and
// appending the event leaves the data unreadable; erasing again appends the
// event.
func TestEraseCompletesAfterAFailure(t *testing.T) {
	t.Parallel()
	b := setupErasure(t)
	ctx := t.Context()
	cus := b.customer(t)
	// The first attempt destroyed the key and died.
	_, err := b.crypto.EraseCustomerKey(ctx, string(cus.ID))
	require.NoError(t, err)
	loaded, err := b.svc.Customer(ctx, cus.ID)
	require.NoError(t, err)
	require.Empty(t, loaded.Customer.Email, "unreadable already")
	require.False(t, loaded.Customer.Erased)

	res, err := b.svc.ErasePersonalData(ctx, b.md, cus.ID, nil)
	require.NoError(t, err)
	require.True(t, res.Customer.Erased)
	require.Equal(t, uint64(2), res.Version)
}
