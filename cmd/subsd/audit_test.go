package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// auditEvent is an event of the auditors' endpoints, as decoded JSON.
type auditEvent = map[string]any

// pageAll follows next_cursor from path (which has a query already) until
// the last page, as the auditor, and returns every event.
func (s *apiServer) pageAll(t *testing.T, path string, header map[string]string) []auditEvent {
	t.Helper()
	var out []auditEvent
	cursor := ""
	for range 1000 {
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		body := s.do(t, call{Method: "GET", Path: p, Token: auditorToken, Header: header}).ok(t, http.StatusOK)
		for _, e := range body["data"].([]any) {
			out = append(out, e.(auditEvent))
		}
		if body["has_more"] != true {
			require.Empty(t, body["next_cursor"])
			return out
		}
		cursor = body["next_cursor"].(string)
		require.NotEmpty(t, cursor)
	}
	t.Fatal("more than 1000 pages")
	return nil
}

func positions(t *testing.T, events []auditEvent) []uint64 {
	t.Helper()
	out := make([]uint64, len(events))
	for i, e := range events {
		f, ok := e["position"].(float64)
		require.True(t, ok, "position is an integer: %v", e["position"])
		out[i] = uint64(f)
	}
	return out
}

func requireIncreasing(t *testing.T, ps []uint64) {
	t.Helper()
	for i := 1; i < len(ps); i++ {
		require.Less(t, ps[i-1], ps[i], "global order")
	}
}

// TestAPIAuditor drives the auditors' endpoints over HTTP as the auditor
// role: list, filter and page the event log; read a stream with its hash
// chain; read a customer's history; compare the customer page as of now
// with the live page byte for byte, and as of before a change with the old
// value.
func TestAPIAuditor(t *testing.T) {
	t.Parallel()
	s := startAPI(t)

	// --- A customer, changed once, with a subscription; another customer.
	created := s.do(t, call{Method: "POST", Path: "/v1/customers", Token: supportToken, Body: map[string]any{
		"first_name": "Ann", "last_name": "de Vries", "email": "ann@example.com",
		"address": map[string]any{"street": "Keizersgracht 1", "zipcode": "1015 CJ", "city": "Amsterdam", "country": "NL"},
	}, Header: map[string]string{"X-Request-Id": "audit-create-ann"}})
	ann := created.ok(t, http.StatusCreated)["id"].(string)
	time.Sleep(5 * time.Millisecond)
	beforeChange := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	patched := s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + ann, Body: map[string]any{"last_name": "Jansen"},
		Header: map[string]string{"X-Request-Id": "audit-rename-ann"}})
	require.Equal(t, "Jansen", at(t, patched.ok(t, http.StatusOK), "customer.last_name"))
	sub := s.do(t, call{Method: "POST", Path: "/v1/subscriptions", Token: supportToken, Body: map[string]any{
		"customer_id":     ann,
		"plan":            map[string]any{"name": "Coffee club", "price": money(2500), "interval": map[string]any{"unit": "month", "count": 1}},
		"delivery_method": "delivery",
		"products":        []any{map[string]any{"product_id": "beans", "name": "Coffee beans", "quantity": 1}},
	}}).ok(t, http.StatusCreated)["id"].(string)
	bob := s.newCustomer(t, "bob@example.com")
	last := s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + bob, Body: map[string]any{"last_name": "Visser"}})
	last.ok(t, http.StatusOK)
	caughtUp := map[string]string{"X-Min-Position": last.header.Get("X-Event-Position")}

	// --- The log: paged in global order, every event with its metadata.
	log := s.pageAll(t, "/v1/events?limit=3", caughtUp)
	require.GreaterOrEqual(t, len(log), 5)
	requireIncreasing(t, positions(t, log))
	ids := map[string]bool{}
	var rename auditEvent
	for _, e := range log {
		for _, k := range []string{"id", "stream", "version", "type", "occurred_at", "recorded_at", "actor", "correlation_id", "causation_id", "data"} {
			require.Contains(t, e, k)
		}
		require.NotContains(t, e, "hash", "hashes are the stream endpoint's")
		ids[e["id"].(string)] = true
		if e["type"] == "customer.details_changed" && e["stream"] == "customer-"+ann {
			rename = e
		}
	}
	require.NotNil(t, rename)
	require.Equal(t, "admin", rename["actor"], "the token's role")
	require.Equal(t, "audit-rename-ann", rename["correlation_id"], "the request id")
	require.Equal(t, patched.header.Get("X-Request-Id"), rename["correlation_id"])
	require.Equal(t, "Jansen", at(t, rename, "data.last_name"))
	_, err := time.Parse(time.RFC3339Nano, rename["occurred_at"].(string))
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(rename["occurred_at"].(string), "Z"), "UTC")
	// Events appended in answer to others (issue 5's reactors) name the
	// event they answer.
	for _, e := range log {
		if actor, _ := e["actor"].(string); strings.HasPrefix(actor, "reactor:") {
			require.True(t, ids[e["causation_id"].(string)], "causation of %v", e)
		}
	}

	// The same log in one page, and after a position.
	whole := s.do(t, call{Method: "GET", Path: "/v1/events?limit=100", Token: auditorToken}).ok(t, http.StatusOK)
	require.Equal(t, len(log), len(whole["data"].([]any)))
	third := strconv.FormatUint(positions(t, log)[2], 10)
	rest := s.pageAll(t, "/v1/events?limit=100&after="+third, nil)
	require.Equal(t, positions(t, log)[3:], positions(t, rest))

	// Filters: by type, by stream, both; repeated means any.
	registered := s.pageAll(t, "/v1/events?limit=1&type=customer.registered", nil)
	require.Len(t, registered, 2)
	require.Equal(t, "customer-"+ann, registered[0]["stream"])
	require.Equal(t, "customer-"+bob, registered[1]["stream"])
	annStream := s.pageAll(t, "/v1/events?stream=customer-"+ann, nil)
	require.Len(t, annStream, 2)
	both := s.pageAll(t, "/v1/events?limit=2&stream=customer-"+ann+"&stream=customer-"+bob+"&type=customer.details_changed", nil)
	require.Len(t, both, 2)
	requireIncreasing(t, positions(t, both))
	require.Empty(t, s.pageAll(t, "/v1/events?stream=nope", nil))

	s.do(t, call{Method: "GET", Path: "/v1/events?after=yesterday", Token: auditorToken}).fails(t, http.StatusBadRequest, "invalid_field", "after")
	s.do(t, call{Method: "GET", Path: "/v1/events?after=1&cursor=2", Token: auditorToken}).fails(t, http.StatusBadRequest, "invalid_field", "cursor")
	s.do(t, call{Method: "GET", Path: "/v1/events?limit=101", Token: auditorToken}).fails(t, http.StatusBadRequest, "invalid_field", "limit")
	s.do(t, call{Method: "GET", Path: "/v1/events", Token: supportToken}).fails(t, http.StatusForbidden, "forbidden", "")

	// --- One stream, with its hash chain, paged by version.
	stream := s.pageAll(t, "/v1/streams/customer-"+ann+"?limit=1", nil)
	require.Len(t, stream, 2)
	zero := strings.Repeat("0", 64)
	require.Equal(t, zero, stream[0]["previous_hash"])
	require.Equal(t, stream[0]["hash"], stream[1]["previous_hash"])
	require.Len(t, stream[1]["hash"], 64)
	require.NotEqual(t, stream[0]["hash"], stream[1]["hash"])
	require.Equal(t, rename["id"], stream[1]["id"])
	require.Equal(t, float64(2), stream[1]["version"])
	s.do(t, call{Method: "GET", Path: "/v1/streams/customer-cus_nobody", Token: auditorToken}).fails(t, http.StatusNotFound, "stream_not_found", "")
	s.do(t, call{Method: "GET", Path: "/v1/streams/customer-" + ann + "?cursor=x", Token: auditorToken}).fails(t, http.StatusBadRequest, "invalid_field", "cursor")

	// The hash of the first event, recomputed from the stored bytes as the
	// migration's comment defines them, is the one shown.
	pool, err := pgxpool.New(t.Context(), s.dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var (
		id       [16]byte
		typ      string
		data     []byte
		metadata string
	)
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT event_id, type, data, metadata::text FROM eventstore_events
		WHERE stream_id = $1 AND version = 1`, "customer-"+ann).Scan(&id, &typ, &data, &metadata))
	m := bytes.Repeat([]byte{0}, 32)
	m = append(m, 0, 0, 0, 0, 0, 0, 0, 1)
	m = append(m, id[:]...)
	for _, part := range [][]byte{[]byte("customer-" + ann), []byte(typ), data, []byte(metadata)} {
		n := len(part)
		m = append(m, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		m = append(m, part...)
	}
	sum := sha256.Sum256(m)
	require.Equal(t, hex.EncodeToString(sum[:]), stream[0]["hash"])

	// --- A customer's history: every event of its streams, in order.
	history := s.pageAll(t, "/v1/customers/"+ann+"/history?limit=2", caughtUp)
	requireIncreasing(t, positions(t, history))
	streams := map[string]bool{}
	for _, e := range history {
		streams[e["stream"].(string)] = true
		require.NotEqual(t, "customer-"+bob, e["stream"])
	}
	require.True(t, streams["customer-"+ann])
	require.True(t, streams["subscription-"+sub])
	require.True(t, func() bool {
		for st := range streams {
			if strings.HasPrefix(st, "invoice-") {
				return true
			}
		}
		return false
	}(), "the first charge's invoice: %v", streams)
	var fromLog []uint64
	for _, e := range log {
		if streams[e["stream"].(string)] {
			fromLog = append(fromLog, positions(t, []auditEvent{e})[0])
		}
	}
	// The log was read before; the history may have more (reactors).
	require.Equal(t, fromLog, positions(t, history)[:len(fromLog)])
	s.do(t, call{Method: "GET", Path: "/v1/customers/cus_nobody/history", Token: auditorToken}).fails(t, http.StatusNotFound, "customer_not_found", "")
	s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann + "/history", Token: supportToken}).fails(t, http.StatusForbidden, "forbidden", "")

	// --- The page as of a time: now is the live page, byte for byte;
	// before the change, the old name; before the customer, 404.
	live := s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann, Token: auditorToken, Header: caughtUp})
	live.ok(t, http.StatusOK)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	asOfNow := s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann + "?as_of=" + url.QueryEscape(now), Token: auditorToken})
	asOfNow.ok(t, http.StatusOK)
	require.Equal(t, string(live.raw), string(asOfNow.raw), "as_of=now is the live page")

	old := s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann + "?as_of=" + beforeChange.Format(time.RFC3339Nano), Token: auditorToken}).ok(t, http.StatusOK)
	require.Equal(t, "de Vries", at(t, old, "customer.last_name"))
	require.Equal(t, float64(1), old["version"])
	require.Equal(t, []any{}, old["subscriptions"])
	require.Equal(t, "Jansen", at(t, asOfNow.body, "customer.last_name"))

	s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann + "?as_of=2000-01-01T00:00:00Z", Token: auditorToken}).
		fails(t, http.StatusNotFound, "customer_not_found", "")
	for _, bad := range []string{"", "yesterday", "2026-11-21", "2026-11-21T10:00:00"} {
		s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann + "?as_of=" + url.QueryEscape(bad), Token: auditorToken}).
			fails(t, http.StatusBadRequest, "invalid_field", "as_of")
	}
	s.do(t, call{Method: "GET", Path: "/v1/customers/" + ann + "?as_of=" + url.QueryEscape(now), Token: supportToken}).
		fails(t, http.StatusForbidden, "forbidden", "")
}

// TestVerify runs `subsd verify` on a served database: it passes, then a
// row edited with SQL makes it fail naming the event.
func TestVerify(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	ann := s.newCustomer(t, "ann@example.com")
	s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + ann, Body: map[string]any{"last_name": "Jansen"}}).ok(t, http.StatusOK)
	s.newCustomer(t, "bob@example.com")
	vars := env(map[string]string{"DATABASE_URL": s.dbURL})

	var stdout, stderr bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"verify"}, vars, &stdout, &stderr), stderr.String())
	require.Contains(t, stdout.String(), "ok: every hash chain holds")

	pool, err := pgxpool.New(t.Context(), s.dbURL)
	require.NoError(t, err)
	defer pool.Close()
	var eventID string
	require.NoError(t, pool.QueryRow(context.Background(), `UPDATE eventstore_events
		SET data = convert_to(replace(convert_from(data, 'UTF8'), '"country":"NL"', '"country":"BE"'), 'UTF8')
		WHERE stream_id = $1 AND version = 1 RETURNING event_id::text`, "customer-"+ann).Scan(&eventID))

	stdout.Reset()
	err = run(t.Context(), []string{"verify", "--quiet"}, vars, &stdout, io.Discard)
	require.ErrorIs(t, err, errChainsBroken)
	out := stdout.String()
	require.Contains(t, out, "BROKEN: 1 of ")
	require.Contains(t, out, `stream "customer-`+ann+`" version 1`)
	require.Contains(t, out, eventID)
	require.NotContains(t, out, "version 2", "the next event's link holds: only the changed event is named")

	// With EventStoreDB there is no chain to verify.
	err = run(t.Context(), []string{"verify"}, env(map[string]string{"DATABASE_URL": s.dbURL, "EVENTSTORE_URL": "esdb://127.0.0.1:1?tls=false"}), io.Discard, io.Discard)
	require.ErrorContains(t, err, "only the PostgreSQL event store keeps hash chains")
}
