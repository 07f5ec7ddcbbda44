package eventstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// This file holds what the auditors' endpoints need of a store beyond the
// Store interface: filtered reads of the global order and the verification
// of hash chains. Both are optional interfaces, so that adapters (and
// decorators) without them still work: ReadFiltered falls back to the
// Store's own methods, and a store without a Verifier keeps no chain.

// Filter selects the events of a filtered read. The zero Filter selects
// every event.
type Filter struct {
	// Streams keeps only events of these streams; empty keeps all.
	Streams []string
	// Types keeps only events of these stored type names; empty keeps all.
	Types []string
}

func (f Filter) keeps(e RecordedEvent) bool {
	return (len(f.Streams) == 0 || slices.Contains(f.Streams, e.StreamID)) &&
		(len(f.Types) == 0 || slices.Contains(f.Types, e.Type))
}

// FilteredReader is implemented by stores that select events for a Filter
// themselves (the PostgreSQL store does it in SQL, with the stream index).
// A decorator of Store (such as one that decrypts event data) should
// implement it by delegating, doing to each event what it does in ReadAll;
// without it, ReadFiltered falls back to the decorator's ReadStream and
// ReadAll, which is correct but slower.
type FilteredReader interface {
	// ReadFiltered is ReadAll restricted to the events f selects: at most
	// limit of them after position after, in global order, each one whose
	// place in the order is final (as ReadAll's). A limit ≤ 0 is an error.
	ReadFiltered(ctx context.Context, after Position, limit int, f Filter) ([]RecordedEvent, error)
}

// fallbackPage is how many events the fallback of ReadFiltered reads per
// call of the store.
const fallbackPage = 1000

// ReadFiltered returns at most limit events after position after that f
// selects, in global order: through store's FilteredReader when it has one,
// otherwise with store's ReadStream (f names streams: every event of each
// stream is read, and the merge kept) or ReadAll (scanning the log forward
// until limit events are found or the log ends).
//
// The fallback through ReadStream returns every committed event of the
// streams, including, in a store whose commit order is not final at once
// (PostgreSQL), an event that ReadAll would still hold back; for the
// EventStoreDB adapter, whose positions are assigned at commit, it is exact.
func ReadFiltered(ctx context.Context, store Store, after Position, limit int, f Filter) ([]RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("reading filtered events after %s: limit %d is not positive", after, limit)
	}
	if fr, ok := store.(FilteredReader); ok {
		return fr.ReadFiltered(ctx, after, limit, f)
	}
	if len(f.Streams) > 0 {
		return readStreamsMerged(ctx, store, after, limit, f)
	}
	var out []RecordedEvent
	for pos := after; len(out) < limit; {
		page, err := store.ReadAll(ctx, pos, fallbackPage)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if f.keeps(e) {
				out = append(out, e)
				if len(out) == limit {
					break
				}
			}
		}
		if len(page) < fallbackPage {
			break
		}
		pos = page[len(page)-1].Position
	}
	return out, nil
}

func readStreamsMerged(ctx context.Context, store Store, after Position, limit int, f Filter) ([]RecordedEvent, error) {
	var out []RecordedEvent
	seen := make(map[string]bool, len(f.Streams))
	for _, stream := range f.Streams {
		if seen[stream] {
			continue
		}
		seen[stream] = true
		for from := uint64(1); ; {
			page, err := store.ReadStream(ctx, stream, from, fallbackPage)
			if err != nil {
				return nil, err
			}
			for _, e := range page {
				if after.Less(e.Position) && f.keeps(e) {
					out = append(out, e)
				}
			}
			if len(page) < fallbackPage {
				break
			}
			from = page[len(page)-1].Version + 1
		}
	}
	slices.SortFunc(out, func(a, b RecordedEvent) int {
		if c := cmp.Compare(a.Position.Major, b.Position.Major); c != 0 {
			return c
		}
		return cmp.Compare(a.Position.Minor, b.Position.Minor)
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Verifier is implemented by stores that chain the events of each stream by
// hash (RecordedEvent.Hash), so that an event changed, removed or moved
// behind the store's back is found: the PostgreSQL store. `subsd verify`
// runs it.
type Verifier interface {
	// Verify recomputes every stream's hash chain from the stored bytes and
	// reports the first broken link of each stream whose chain does not
	// hold. A nil error with broken links is a completed verification that
	// found tampering; an error means the verification could not finish.
	Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error)
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// Progress, if set, is called from time to time (and at the end) with
	// the number of events checked so far.
	Progress func(events int64)
	// MaxBroken bounds the broken links reported (0 means 100); further
	// broken streams are only counted.
	MaxBroken int
}

// VerifyReport is the outcome of a verification.
type VerifyReport struct {
	// Streams and Events are how many were checked.
	Streams int64
	Events  int64
	// BrokenStreams is how many streams have a broken link.
	BrokenStreams int64
	// Broken is the first broken link of each broken stream (at most
	// VerifyOptions.MaxBroken of them).
	Broken []BrokenLink
}

// OK reports whether every chain held.
func (r VerifyReport) OK() bool { return r.BrokenStreams == 0 }

// BrokenLink is where a stream's hash chain fails.
type BrokenLink struct {
	Stream string
	// Version, EventID and Position name the first event whose link does
	// not hold (EventID and Position are zero when the event is missing).
	Version  uint64
	EventID  uuid.UUID
	Position Position
	// Reason says what is wrong, for people.
	Reason string
}

func (b BrokenLink) String() string {
	s := fmt.Sprintf("stream %q version %d", b.Stream, b.Version)
	if b.EventID != uuid.Nil {
		s += fmt.Sprintf(" (event %s, position %s)", b.EventID, b.Position.Token())
	}
	return s + ": " + b.Reason
}
