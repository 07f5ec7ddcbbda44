package domain

// Aggregate describes one aggregate type to the code that runs commands
// against the event store: how its events are stored (Codec) and its pure
// Decide/Evolve pair. Each aggregate package exports one, so infrastructure
// never needs to know an aggregate's internals.
type Aggregate[S any, C any, E Event] struct {
	Codec  *Codec[E]
	Decide func(S, C) ([]E, error)
	Evolve func(S, E) S
}

// Fold evolves the zero state through events, in order. It is the only way
// state is built: rehydration, projections and as-of replays all use it.
func (a Aggregate[S, C, E]) Fold(events ...E) S {
	var s S
	for _, e := range events {
		s = a.Evolve(s, e)
	}
	return s
}
