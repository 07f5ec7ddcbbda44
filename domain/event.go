package domain

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Event is a fact an aggregate decided. EventType is its stable stored name
// ("subscription.canceled"), written by hand and never derived from the Go
// type name: renaming one is a data migration. Each aggregate narrows Event
// to its own closed set with an unexported marker method.
type Event interface {
	EventType() string
}

// ErrUnknownEventType is returned by Codec.Decode for a stored type name no
// event of the aggregate has.
var ErrUnknownEventType = errors.New("unknown event type")

// Upcaster rewrites the stored JSON of an older event shape into the current
// one. It must leave data already in the current shape unchanged, so that
// upcasters can run on every read without knowing the stored version.
//
// How event shapes change: an added optional field needs nothing (old data
// decodes with the zero value). Any other change — a field renamed, split,
// or given another type — keeps the stored type name and registers an
// Upcaster with Codec.Upcast in the aggregate's init; the stored bytes are
// never rewritten. Stored data has no version number: an upcaster
// recognises the old shape by its fields, and upcasters of one type run
// oldest first, each taking the data one shape further. The example is
// customer.UpcastRegisteredV1, which splits the full "name" of the first
// customer.registered into first_name and last_name.
type Upcaster func(data []byte) ([]byte, error)

// Codec turns an aggregate's events into stored (type, JSON) pairs and back,
// upcasting old shapes on the way in. It is the only place an event's stored
// form is read, so history, projections and as-of replays all see the
// current shape. A Codec is built once at package init and is then safe for
// concurrent use.
type Codec[E Event] struct {
	decoders  map[string]func([]byte) (E, error)
	upcasters map[string][]Upcaster
}

// NewCodec returns an empty codec; add events with Register.
func NewCodec[E Event]() *Codec[E] {
	return &Codec[E]{decoders: map[string]func([]byte) (E, error){}, upcasters: map[string][]Upcaster{}}
}

// Register adds event type T to c under T's EventType. T must belong to E's
// closed set; registering a name twice panics (a programming error caught by
// any test that loads the package).
func Register[T Event, E Event](c *Codec[E]) {
	var zero T
	name := zero.EventType()
	if _, dup := c.decoders[name]; dup {
		panic("domain: event type registered twice: " + name)
	}
	if _, ok := any(zero).(E); !ok {
		panic(fmt.Sprintf("domain: %T is not an event of this aggregate", zero))
	}
	c.decoders[name] = func(data []byte) (E, error) {
		var t T
		if err := json.Unmarshal(data, &t); err != nil {
			var none E
			return none, fmt.Errorf("decoding %s: %w", name, err)
		}
		return any(t).(E), nil
	}
}

// Upcast adds an upcaster for the stored type name; upcasters of one name run
// in the order they were added.
func (c *Codec[E]) Upcast(name string, u Upcaster) {
	c.upcasters[name] = append(c.upcasters[name], u)
}

// Knows reports whether name is one of the aggregate's event types.
func (c *Codec[E]) Knows(name string) bool {
	_, ok := c.decoders[name]
	return ok
}

// Encode returns the stored type name and JSON of e.
func (c *Codec[E]) Encode(e E) (string, []byte, error) {
	name := e.EventType()
	if !c.Knows(name) {
		return "", nil, fmt.Errorf("encoding %s: %w", name, ErrUnknownEventType)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return "", nil, fmt.Errorf("encoding %s: %w", name, err)
	}
	return name, data, nil
}

// Decode upcasts data and decodes it as the event stored under name.
func (c *Codec[E]) Decode(name string, data []byte) (E, error) {
	dec, ok := c.decoders[name]
	if !ok {
		var none E
		return none, fmt.Errorf("decoding %q: %w", name, ErrUnknownEventType)
	}
	for _, up := range c.upcasters[name] {
		var err error
		if data, err = up(data); err != nil {
			var none E
			return none, fmt.Errorf("upcasting %s: %w", name, err)
		}
	}
	return dec(data)
}
