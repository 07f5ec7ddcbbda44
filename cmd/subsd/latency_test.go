package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// BenchmarkCommandToVisible measures how long a command takes to become
// visible in the read models, through the real `run` over HTTP: each
// iteration is one PATCH /v1/customers/{id} whose answer is the customer
// detail document read back from its projection once every projection has
// applied the write (the handler waits for the write's position), so its
// latency is append + projection + read. It reports p50 and p99 in ms;
// with -cpu or the parallel sub-benchmark, several writers (one customer
// each) run at once.
//
//	go test ./cmd/subsd -run '^$' -bench CommandToVisible -benchtime 2000x
func BenchmarkCommandToVisible(b *testing.B) {
	base := startBenchAPI(b)
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			ids := make([]string, writers)
			for i := range ids {
				ids[i] = benchCustomer(b, base, fmt.Sprintf("w%d-%d@example.com", writers, i))
			}
			per := (b.N + writers - 1) / writers
			lat := make([][]time.Duration, writers)
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					client := &http.Client{}
					for i := range per {
						body := fmt.Sprintf(`{"last_name":"Visser %d"}`, i)
						start := time.Now()
						status, doc := benchDo(b, client, "PATCH", base+"/v1/customers/"+ids[w], body)
						lat[w] = append(lat[w], time.Since(start))
						if status != http.StatusOK || !bytes.Contains(doc, []byte(`"Visser `+fmt.Sprint(i)+`"`)) {
							b.Errorf("PATCH answered %d: %s", status, doc)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			q := func(p float64) float64 {
				return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max-ms")
		})
	}
}

// startBenchAPI runs `subsd serve` on a fresh database for a benchmark and
// returns its base URL once it is ready.
func startBenchAPI(b *testing.B) string {
	b.Helper()
	vars := map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(b),
		"API_TOKENS":   "admin:" + adminToken,
		"HTTP_ADDR":    "127.0.0.1:0",
		// The benchmark measures latency, not the rate limiter.
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
		if rec, ok := logs.record("listening"); ok {
			base := "http://" + rec["addr"].(string)
			if resp, err := http.Get(base + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return base
				}
			}
		}
		select {
		case err := <-done:
			b.Fatalf("serve returned: %v; logs:\n%s", err, logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
	b.Fatalf("serve not ready; logs:\n%s", logs)
	return ""
}

func benchCustomer(b *testing.B, base, email string) string {
	b.Helper()
	status, body := benchDo(b, http.DefaultClient, "POST", base+"/v1/customers", `{"first_name":"Eva","last_name":"Visser","email":"`+email+
		`","address":{"street":"Damrak 1","zipcode":"1012 LG","city":"Amsterdam","country":"NL"}}`)
	if status != http.StatusCreated {
		b.Fatalf("creating a customer: %d %s", status, body)
	}
	var doc struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		b.Fatal(err)
	}
	return doc.ID
}

func benchDo(b *testing.B, client *http.Client, method, url, body string) (int, []byte) {
	req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
	if err != nil {
		b.Error(err)
		return 0, nil
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}
