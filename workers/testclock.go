package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/workers/internal/dbsqlc"
)

// TestClock is the service's clock under TEST_CLOCK=1, like Stripe's test
// clocks: time stands still until it is advanced, and it never goes back.
// Its now is kept in PostgreSQL (test_clock), so it survives restarts and
// every process of the service reads the same time; it starts at the real
// now the first time any process opens it.
//
// Now is cheap (an atomic read): it is called for every command. A process
// that did not advance the clock itself sees another's advance when it
// next refreshes (Run polls); serve runs the test clock's advance in the
// process that serves the API, and TEST_CLOCK is meant for `serve
// --role=all`, where there is one process.
type TestClock struct {
	pool *pgxpool.Pool
	now  atomic.Int64 // UnixMicro: PostgreSQL keeps microseconds
}

// OpenTestClock returns the test clock kept in pool, starting it at the
// real now if it has never run.
func OpenTestClock(ctx context.Context, pool *pgxpool.Pool) (*TestClock, error) {
	now, err := dbsqlc.New(pool).ClockInit(ctx, time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, fmt.Errorf("opening the test clock: %w", err)
	}
	c := &TestClock{pool: pool}
	c.now.Store(now.UnixMicro())
	return c, nil
}

// Now returns the test clock's now, in UTC.
func (c *TestClock) Now() time.Time { return time.UnixMicro(c.now.Load()).UTC() }

// Refresh reads now again from the database (another process may have
// advanced it).
func (c *TestClock) Refresh(ctx context.Context) error {
	now, err := dbsqlc.New(c.pool).ClockGet(ctx)
	if err != nil {
		return fmt.Errorf("reading the test clock: %w", err)
	}
	c.store(now)
	return nil
}

// Run refreshes now every interval until ctx is done.
func (c *TestClock) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.Refresh(ctx) // a failed refresh keeps the last now; the next one tries again
		}
	}
}

// store moves the in-memory now forward (never back).
func (c *TestClock) store(t time.Time) {
	us := t.UnixMicro()
	for {
		cur := c.now.Load()
		if us <= cur || c.now.CompareAndSwap(cur, us) {
			return
		}
	}
}

// set moves now to t in the database and here, never back, and returns the
// new now.
func (c *TestClock) set(ctx context.Context, t time.Time) (time.Time, error) {
	now, err := dbsqlc.New(c.pool).ClockAdvance(ctx, t.UTC().Truncate(time.Microsecond))
	if err != nil {
		return time.Time{}, fmt.Errorf("advancing the test clock: %w", err)
	}
	c.store(now)
	return c.Now(), nil
}

// ErrClockBackwards is returned by Advance for a time before the clock's
// now (HTTP 400).
var ErrClockBackwards = domain.Invalid("to", "the test clock never goes back: to must not be before its now")

// Advancer moves the test clock forward and runs, in time order, all the
// work that falls due on the way (POST /v1/test-clock/advance).
type Advancer struct {
	Clock *TestClock
	// Due is the due-work runner (with the River client that enqueues).
	Due *DueWork
	// Jobs is the River client whose queue Advance waits to be idle.
	Jobs *Client
	// Store and Pool: Advance waits for Consumers' checkpoints (in Pool) to
	// reach the store's head.
	Store     eventstore.Store
	Pool      *pgxpool.Pool
	Consumers []string
	// Appends, when set, tracks what this process appended: the consumers
	// must reach its last position too. The PostgreSQL store shows readers
	// an event only once every older transaction in the database cluster
	// has ended, so the store's visible head can lag an event a job has
	// just committed; the tracker does not. (With several processes, only
	// this one's appends are tracked: TEST_CLOCK is for one process.)
	Appends *AppendTracker
	// SettleTimeout bounds each wait for the service to become idle
	// (default a minute): jobs that no process works (no worker role
	// running) would otherwise be waited for forever.
	SettleTimeout time.Duration
	// PollInterval is the pause between idle checks (default 10 ms).
	PollInterval time.Duration

	mu sync.Mutex // one advance at a time
}

// ErrNotSettled is returned (wrapped) by Advance when the service did not
// become idle within SettleTimeout.
var ErrNotSettled = errors.New("the jobs and consumers did not settle")

// Advance moves the clock to to, never back (ErrClockBackwards). On the
// way it stops at each time something falls due, in time order: it sets
// now to that time, enqueues everything due by it (DueWork.Run: charges,
// retries, shipments, emails, cancellations) and waits until the service
// has settled (River has no available or running job, and every consumer
// has applied every event in the store), then looks again, since what ran
// may have made more work due (the next charge, a retry, a reminder). It
// returns the store's head once the clock is at to and everything has
// settled: a GET with that position as X-Min-Position sees the results.
//
// Work that does not settle (a job failing and waiting for River's retry
// backoff, which runs on real time) is not waited for beyond its first
// failure: Advance goes on, and the job's retry happens later on its own.
func (a *Advancer) Advance(ctx context.Context, to time.Time) (eventstore.Position, error) {
	return a.AdvanceAfter(ctx, to, eventstore.Start)
}

// AdvanceAfter is Advance that first waits for the consumers to have
// applied the event at position after (a write the caller made just
// before, which the store may not show readers yet; HTTP passes the
// request's X-Min-Position).
func (a *Advancer) AdvanceAfter(ctx context.Context, to time.Time, after eventstore.Position) (eventstore.Position, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	to = to.UTC().Truncate(time.Microsecond)
	if err := a.Clock.Refresh(ctx); err != nil {
		return eventstore.Position{}, err
	}
	if to.Before(a.Clock.Now()) {
		return eventstore.Position{}, ErrClockBackwards
	}
	head, err := a.settle(ctx, after)
	if err != nil {
		return eventstore.Position{}, err
	}
	for {
		next, ok, err := a.Due.Next(ctx, to)
		if err != nil {
			return eventstore.Position{}, err
		}
		if !ok {
			break
		}
		now, err := a.Clock.set(ctx, next)
		if err != nil {
			return eventstore.Position{}, err
		}
		if _, err := a.Due.Run(ctx, now); err != nil {
			return eventstore.Position{}, err
		}
		if head, err = a.settle(ctx, head); err != nil {
			return eventstore.Position{}, err
		}
	}
	now, err := a.Clock.set(ctx, to)
	if err != nil {
		return eventstore.Position{}, err
	}
	if _, err := a.Due.Run(ctx, now); err != nil {
		return eventstore.Position{}, err
	}
	return a.settle(ctx, head)
}

// Settle waits until the service is idle (see Advance), with the event at
// after applied by every consumer, and returns the store's head.
func (a *Advancer) Settle(ctx context.Context, after eventstore.Position) (eventstore.Position, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.settle(ctx, after)
}

func (a *Advancer) settle(ctx context.Context, after eventstore.Position) (eventstore.Position, error) {
	timeout, poll := a.SettleTimeout, a.PollInterval
	if timeout <= 0 {
		timeout = time.Minute
	}
	if poll <= 0 {
		poll = 10 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// quiet counts consecutive idle looks at the same head. Two are needed,
	// a poll apart: the PostgreSQL store shows an event to readers only
	// once every older transaction has ended, so an event a job appended
	// just now can be committed yet not visible for a moment.
	quiet, last := 0, eventstore.Position{}
	for {
		// Consumers first, then River, then the consumers again: a job that
		// finished in between appended events the second look sees.
		if a.Appends != nil {
			if last := a.Appends.Last(); after.Less(last) {
				after = last
			}
		}
		head, caughtUp, err := a.caughtUp(ctx)
		idle := false
		if err == nil && caughtUp && !head.Less(after) {
			if idle, err = a.riverIdle(ctx); err == nil && idle {
				var again eventstore.Position
				again, caughtUp, err = a.caughtUp(ctx)
				idle = err == nil && caughtUp && again == head
				if a.Appends != nil && head.Less(a.Appends.Last()) {
					idle = false // a job appended since the first look
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			return eventstore.Position{}, err
		}
		switch {
		case !idle:
			quiet = 0
		case quiet > 0 && head == last:
			return head, nil
		default:
			quiet, last = 1, head
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return eventstore.Position{}, fmt.Errorf("waiting %s: %w", timeout, ErrNotSettled)
			}
			return eventstore.Position{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// caughtUp reports whether every consumer has applied every event in the
// store, and the head they are at.
func (a *Advancer) caughtUp(ctx context.Context) (eventstore.Position, bool, error) {
	var head eventstore.Position
	for _, name := range a.Consumers {
		cp, err := eventrouter.Checkpoint(ctx, a.Pool, name)
		if err != nil {
			return head, false, err
		}
		more, err := a.Store.ReadAll(ctx, cp, 1)
		if err != nil {
			return head, false, fmt.Errorf("reading the store after %s's checkpoint: %w", name, err)
		}
		if len(more) > 0 {
			return head, false, nil
		}
		if head.Less(cp) {
			head = cp
		}
	}
	return head, true, nil
}

// riverIdle reports whether River has no available or running job.
func (a *Advancer) riverIdle(ctx context.Context) (bool, error) {
	res, err := a.Jobs.JobList(ctx, river.NewJobListParams().States(rivertype.JobStateAvailable, rivertype.JobStateRunning).First(1))
	if err != nil {
		return false, fmt.Errorf("listing River's jobs: %w", err)
	}
	return len(res.Jobs) == 0, nil
}

// Now returns the test clock's now (so that an Advancer is the HTTP
// server's TestClockControl).
func (a *Advancer) Now() time.Time { return a.Clock.Now() }

// AppendTracker is an event store that remembers the position of the last
// event appended through it (see Advancer.Appends).
type AppendTracker struct {
	eventstore.Store
	mu   sync.Mutex
	last eventstore.Position
}

// TrackAppends returns store, tracking its appends.
func TrackAppends(store eventstore.Store) *AppendTracker { return &AppendTracker{Store: store} }

// Append appends through the store and remembers the position.
func (t *AppendTracker) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	res, err := t.Store.Append(ctx, stream, expected, events...)
	if err == nil {
		t.mu.Lock()
		if t.last.Less(res.Position) {
			t.last = res.Position
		}
		t.mu.Unlock()
	}
	return res, err
}

// Last returns the position of the last event appended (the latest in the
// global order), or eventstore.Start.
func (t *AppendTracker) Last() eventstore.Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}
