package domain_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

// A tiny aggregate's closed event set, just for the codec.
type testEvent interface {
	domain.Event
	isTestEvent()
}

type opened struct {
	ID    string       `json:"id"`
	Price domain.Money `json:"price"`
}

func (opened) EventType() string { return "test.opened" }
func (opened) isTestEvent()      {}

type closed struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

func (closed) EventType() string { return "test.closed" }
func (closed) isTestEvent()      {}

// stranger is an event of another aggregate.
type stranger struct{}

func (stranger) EventType() string { return "other.happened" }

func newTestCodec() *domain.Codec[testEvent] {
	c := domain.NewCodec[testEvent]()
	domain.Register[opened](c)
	domain.Register[closed](c)
	return c
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	c := newTestCodec()
	for _, e := range []testEvent{opened{ID: "a", Price: eur(1999)}, closed{ID: "a", Reason: "moved"}} {
		name, data, err := c.Encode(e)
		require.NoError(t, err)
		require.Equal(t, e.EventType(), name)
		got, err := c.Decode(name, data)
		require.NoError(t, err)
		require.Equal(t, e, got)
	}
	name, data, err := c.Encode(opened{ID: "a", Price: eur(1999)})
	require.NoError(t, err)
	require.Equal(t, "test.opened", name)
	require.JSONEq(t, `{"id":"a","price":{"amount":1999,"currency":"EUR"}}`, string(data))

	require.True(t, c.Knows("test.closed"))
	require.False(t, c.Knows("test.reopened"))
}

func TestCodecErrors(t *testing.T) {
	t.Parallel()
	c := newTestCodec()
	_, err := c.Decode("test.reopened", []byte(`{}`))
	require.ErrorIs(t, err, domain.ErrUnknownEventType)

	_, err = c.Decode("test.opened", []byte(`{"id": 42}`))
	require.Error(t, err)
	require.Contains(t, err.Error(), "test.opened")

	_, err = c.Decode("test.opened", []byte(`{"id":"a","price":{"amount":1.5,"currency":"EUR"}}`))
	require.ErrorIs(t, err, domain.ErrInvalid, "money validation applies to stored events too")

	empty := domain.NewCodec[testEvent]()
	_, _, err = empty.Encode(closed{})
	require.ErrorIs(t, err, domain.ErrUnknownEventType, "an unregistered event is not written")
}

func TestCodecRegisterPanics(t *testing.T) {
	t.Parallel()
	c := newTestCodec()
	require.PanicsWithValue(t, "domain: event type registered twice: test.opened", func() { domain.Register[opened](c) })
	require.Panics(t, func() { domain.Register[stranger](c) }, "an event outside the closed set")
}

func TestCodecUpcasters(t *testing.T) {
	t.Parallel()
	c := newTestCodec()
	var calls []string
	// v1 had "why"; v2 renamed it "cause"; v3 (current) calls it "reason".
	// Each upcaster leaves later shapes unchanged.
	rename := func(from, to string) domain.Upcaster {
		return func(data []byte) ([]byte, error) {
			calls = append(calls, from+"→"+to)
			var m map[string]json.RawMessage
			if err := json.Unmarshal(data, &m); err != nil {
				return nil, err
			}
			if v, ok := m[from]; ok {
				m[to] = v
				delete(m, from)
			}
			return json.Marshal(m)
		}
	}
	c.Upcast("test.closed", rename("why", "cause"))
	c.Upcast("test.closed", rename("cause", "reason"))

	for _, stored := range []string{`{"id":"a","why":"moved"}`, `{"id":"a","cause":"moved"}`, `{"id":"a","reason":"moved"}`} {
		calls = nil
		got, err := c.Decode("test.closed", []byte(stored))
		require.NoError(t, err)
		require.Equal(t, closed{ID: "a", Reason: "moved"}, got, stored)
		require.Equal(t, []string{"why→cause", "cause→reason"}, calls, "upcasters run in the order added")
	}

	// Upcasters of one type do not run for another.
	calls = nil
	_, err := c.Decode("test.opened", []byte(`{"id":"b","price":{"amount":1,"currency":"EUR"}}`))
	require.NoError(t, err)
	require.Empty(t, calls)

	// A failing upcaster fails the decode and says so.
	c.Upcast("test.opened", func([]byte) ([]byte, error) { return nil, errors.New("boom") })
	_, err = c.Decode("test.opened", []byte(`{}`))
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "upcasting test.opened"), err.Error())
}
