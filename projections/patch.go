package projections

import (
	"fmt"
	"strconv"
	"time"

	"github.com/subsd/subsd/domain/subscription"
)

// Holes: the few values of a document that the events alone cannot fix at
// write time.
//
//   - subscribed_days changes every day without an event (API.md's customer
//     detail; subscription.SubscribedDays counts to the time of reading).
//   - track_and_trace.enabled is a global setting: storing it in every
//     customer's document would make one settings change rewrite them all.
//
// The document is stored rendered, with a placeholder (a valid JSON value,
// so the stored document stays valid JSON) where each such value goes, and
// a list of holes: for each, its kind, offset, placeholder length and
// arguments, flattened into the document row's holes bigint[] as
//
//	kind, offset, length, n, arg1 … argn
//
// The Reader copies the stored bytes around the holes and writes the values
// for now: one pass over the document, no decoding. Stored documents never
// depend on when they were written, which is what lets a rebuild produce
// byte-identical rows to the live projection.
type holeKind int64

const (
	// holeSubscribedDays: args activated_at and canceled_at in Unix
	// nanoseconds (0: none); the value is subscription.SubscribedDays.
	holeSubscribedDays holeKind = 1
	// holeTrackAndTrace: no args; the value is the global track & trace
	// setting, true or false.
	holeTrackAndTrace holeKind = 2
)

// patchEnv is what holes are filled from.
type patchEnv struct {
	// now is the time of reading, in the business time zone.
	now time.Time
	// trackAndTrace is the email setting.
	trackAndTrace bool
}

// patch returns doc with its holes filled from env. A document without
// holes is returned as it is, not copied.
func patch(doc []byte, holes []int64, env patchEnv) ([]byte, error) {
	if len(holes) == 0 {
		return doc, nil
	}
	out := make([]byte, 0, len(doc)+16)
	at := 0
	for i := 0; i < len(holes); {
		if i+4 > len(holes) {
			return nil, fmt.Errorf("projections: malformed holes %v", holes)
		}
		kind, off, n, nargs := holeKind(holes[i]), int(holes[i+1]), int(holes[i+2]), int(holes[i+3])
		i += 4
		if nargs < 0 || i+nargs > len(holes) || off < at || off+n > len(doc) {
			return nil, fmt.Errorf("projections: malformed holes %v", holes)
		}
		args := holes[i : i+nargs]
		i += nargs
		out = append(out, doc[at:off]...)
		at = off + n
		switch kind {
		case holeSubscribedDays:
			if len(args) != 2 {
				return nil, fmt.Errorf("projections: subscribed_days hole with %d args", len(args))
			}
			out = strconv.AppendInt(out, int64(subscribedDays(args[0], args[1], env.now)), 10)
		case holeTrackAndTrace:
			out = strconv.AppendBool(out, env.trackAndTrace)
		default:
			return nil, fmt.Errorf("projections: unknown hole kind %d", kind)
		}
	}
	return append(out, doc[at:]...), nil
}

// subscribedDays is subscription.SubscribedDays for the instants a hole
// records (Unix nanoseconds, 0 for none).
func subscribedDays(activated, canceled int64, now time.Time) int {
	var s subscription.State
	if activated != 0 {
		s.ActivatedAt = time.Unix(0, activated).UTC()
	}
	if canceled != 0 {
		s.CanceledAt = time.Unix(0, canceled).UTC()
	}
	return subscription.SubscribedDays(s, now)
}

// unixNano returns t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}
