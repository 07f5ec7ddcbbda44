package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// BenchmarkAsOf measures GET /v1/customers/{id}?as_of= through the real
// `run` over HTTP, for one customer with SUBSD_BENCH_CUSTOMER_EVENTS events
// (default 1,000) over its customer stream and four subscriptions, made
// through the API (detail edits and skipped shipments), in a log that also
// holds SUBSD_BENCH_OTHER_EVENTS (default 20,000) events of other streams
// (appended first, and applied by the projections before the customer's are
// made: every consumer takes each event in a transaction of its own, so a
// larger log mostly measures the catch-up).
// Each iteration is one as_of request at a time inside the customer's
// history, so that the fold cannot stop early; it reports p50 and p99 in ms.
//
//	go test ./cmd/subsd -run '^$' -bench AsOf -benchtime 500x
func BenchmarkAsOf(b *testing.B) {
	want := benchEnv(b, "SUBSD_BENCH_CUSTOMER_EVENTS", 1000)
	others := benchEnv(b, "SUBSD_BENCH_OTHER_EVENTS", 20_000)
	base, dbURL := startBenchAPIWithDB(b)
	client := &http.Client{}

	// Other customers' events, appended straight to the store.
	pool, err := pgxpool.New(b.Context(), dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	store := postgres.New(pool)
	var lastOther eventstore.Position
	for i := 0; i < others; i += 1000 {
		evs := make([]eventstore.EventData, min(1000, others-i))
		for j := range evs {
			evs[j] = eventstore.EventData{ID: uuid.New(), Type: "other.happened", Data: []byte(`{"customer_id":"cus_other","n":` + strconv.Itoa(j) + `}`),
				Metadata: eventstore.Metadata{Actor: "admin", OccurredAt: time.Now()}}
		}
		res, err := store.Append(b.Context(), fmt.Sprintf("other-%d", i/1000%50), eventstore.Any{}, evs...)
		if err != nil {
			b.Fatal(err)
		}
		lastOther = res.Position
	}

	// Wait for the projections to apply them (503 after 5 s each try).
	for start := time.Now(); lastOther != eventstore.Start; {
		req, _ := http.NewRequest("GET", base+"/v1/customers?limit=1", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("X-Min-Position", lastOther.Token())
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			b.Logf("projections applied %d other events in %s", others, time.Since(start).Round(time.Millisecond))
			break
		}
	}
	settled := func() {
		// The reactors too: a consumer catching up would share the two
		// cores with the requests measured.
		for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
			var behind bool
			err := pool.QueryRow(b.Context(), `SELECT EXISTS (SELECT FROM consumer_checkpoints
				WHERE (position_major, position_minor) < (SELECT tx_id::text::bigint, tx_index FROM eventstore_events ORDER BY tx_id DESC, tx_index DESC LIMIT 1))`).Scan(&behind)
			if err != nil {
				b.Fatal(err)
			}
			if !behind {
				b.Logf("every consumer caught up in %s", time.Since(start).Round(time.Millisecond))
				return
			}
		}
	}
	settled()
	id := benchCustomer(b, base, "asof@example.com")
	var subs []string
	for range 4 {
		status, body := benchDo(b, client, "POST", base+"/v1/subscriptions", `{"customer_id":"`+id+`",
			"plan":{"name":"Coffee club","price":{"amount":2500,"currency":"EUR"},"interval":{"unit":"month","count":1}},
			"delivery_method":"delivery","products":[{"product_id":"beans","name":"Coffee beans","quantity":1}]}`)
		if status != http.StatusCreated {
			b.Fatalf("creating a subscription: %d %s", status, body)
		}
		var doc struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			b.Fatal(err)
		}
		subs = append(subs, doc.ID)
	}
	var moments []time.Time
	events := func() int {
		var n int
		if err := pool.QueryRow(b.Context(), `SELECT count(*) FROM eventstore_events e
			JOIN rm_customer_streams.documents d ON d.id = e.stream_id WHERE d.parent = $1`, id).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	for i := 0; ; i++ {
		if i%50 == 0 {
			if n := events(); n >= want {
				b.Logf("customer %s: %d events, log: %d other events", id, n, others)
				break
			}
		}
		var status int
		var body []byte
		if i%2 == 0 {
			status, body = benchDo(b, client, "PATCH", base+"/v1/customers/"+id, fmt.Sprintf(`{"last_name":"Visser %d"}`, i))
		} else {
			status, body = benchDo(b, client, "POST", base+"/v1/subscriptions/"+subs[i/2%4]+"/products/beans/skip", "")
		}
		if status != http.StatusOK {
			b.Fatalf("request %d: %d %s", i, status, body)
		}
		moments = append(moments, time.Now().UTC())
	}

	settled()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t := moments[len(moments)-1-i%(len(moments)/10)] // the latest tenth of the history
		start := time.Now()
		status, body := benchDo(b, client, "GET", base+"/v1/customers/"+id+"?as_of="+url.QueryEscape(t.Format(time.RFC3339Nano)), "")
		lat = append(lat, time.Since(start))
		if status != http.StatusOK {
			b.Fatalf("as_of answered %d: %s", status, body)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

func benchEnv(b *testing.B, name string, def int) int {
	b.Helper()
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

// startBenchAPIWithDB runs `subsd serve` on a fresh database, as
// startBenchAPI does, and returns its base URL and the database's URL.
func startBenchAPIWithDB(b *testing.B) (string, string) {
	b.Helper()
	dbURL := pgtest.NewDatabase(b)
	vars := map[string]string{
		"DATABASE_URL":   dbURL,
		"API_TOKENS":     "admin:" + adminToken,
		"HTTP_ADDR":      "127.0.0.1:0",
		"RATE_LIMIT_RPS": "0",
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, env(vars), io.Discard, logs) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if rec, ok := logs.record("ready"); ok && rec != nil {
			if l, ok := logs.record("listening"); ok {
				return "http://" + l["addr"].(string), dbURL
			}
		}
		select {
		case err := <-done:
			b.Fatalf("serve returned: %v; logs:\n%s", err, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	b.Fatalf("serve not ready; logs:\n%s", logs)
	return "", ""
}
