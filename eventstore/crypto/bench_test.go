package crypto_test

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
)

// BenchmarkAppend measures what encryption costs appends: 8 concurrent
// writers, each appending single events with an exact expected version to
// a customer stream of its own (the shape of command handling), through
// the PostgreSQL store alone (Plain) and through the decorator over it
// (Encrypted). Every event is a customer.details_changed carrying ten
// personal values (names, email, phone, two addresses): more than most
// events, so this is the expensive case.
//
// The two run on one database in alternating rounds (plain, encrypted,
// encrypted, plain, ...), so that whatever else the machine does falls on
// both alike; events/s of each and the overhead are reported (the
// acceptance bound is 15%). SUBSD_BENCH_ROUNDS sets the rounds (default 6):
//
//	go test ./eventstore/crypto -run '^$' -bench BenchmarkAppend -benchtime 4000x
func BenchmarkAppend(b *testing.B) {
	bundle := setup(b)
	rounds := 6
	if v := os.Getenv("SUBSD_BENCH_ROUNDS"); v != "" {
		var err error
		rounds, err = strconv.Atoi(v)
		require.NoError(b, err, "SUBSD_BENCH_ROUNDS")
	}
	var plain, encrypted time.Duration
	for r := range rounds {
		order := []bool{false, true}
		if r%2 == 1 {
			order = []bool{true, false}
		}
		for _, enc := range order {
			if enc {
				encrypted += benchmarkAppend(b, bundle.store)
			} else {
				plain += benchmarkAppend(b, bundle.inner)
			}
		}
	}
	n := float64(b.N * rounds)
	b.ReportMetric(n/plain.Seconds(), "plain-events/s")
	b.ReportMetric(n/encrypted.Seconds(), "encrypted-events/s")
	b.ReportMetric(100*(encrypted.Seconds()-plain.Seconds())/plain.Seconds(), "%overhead")
}

// benchmarkAppend appends b.N events through store from 8 writers and
// returns how long that took.
func benchmarkAppend(b *testing.B, store eventstore.Store) time.Duration {
	const writers = 8
	ctx := b.Context()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	start := time.Now()
	for range writers {
		wg.Go(func() {
			id := domain.CustomerID("cus_" + uuid.NewString()[:13])
			stream := customer.Stream(id)
			var version uint64
			for next.Add(1) <= int64(b.N) {
				res, err := store.Append(ctx, stream, eventstore.Exact(version), benchEvent(b, id, version))
				if err != nil {
					errs <- err
					return
				}
				version = res.Version
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	require.NoError(b, <-errs)
	return elapsed
}

func benchEvent(b *testing.B, id domain.CustomerID, n uint64) eventstore.EventData {
	first, last, mail, phone := "Annabel", fmt.Sprintf("Quist-%d", n), domain.Email("annabel.quist@example.org"), domain.Phone("+31612345678")
	addr := domain.Address{Street: "Prinsengracht 263", Zipcode: "1016 GV", City: "Amsterdam", Country: "NL"}
	ship := domain.Address{Street: "Stationsplein 10", Zipcode: "3511 ED", City: "Utrecht", Country: "NL"}
	return encode(b, customer.Codec, customer.Event(customer.DetailsChanged{
		CustomerID: id, FirstName: &first, LastName: &last, Email: &mail, Phone: &phone,
		Address: &addr, ShippingAddress: &ship, ChangedAt: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
	}))
}
