package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/subsd/subsd/eventstore"
)

const (
	// pollWhileDeaf is how often subscribers poll while the listening
	// connection is down and notifications cannot arrive.
	pollWhileDeaf = 50 * time.Millisecond
	// firstPendingPoll and maxPendingPoll bound the backoff of a subscriber
	// that knows committed events are held back by an older transaction:
	// usually it ends within milliseconds (another append committing), but
	// it may be a long transaction that sends no notification when it ends.
	firstPendingPoll = time.Millisecond
	maxPendingPoll   = 50 * time.Millisecond
	// notifySpacing is the least time between two notifications from one
	// Store.
	notifySpacing = 5 * time.Millisecond
	// Backoff between retries of a subscription's failed read.
	firstRetry = 50 * time.Millisecond
	maxRetry   = 5 * time.Second
)

// Subscribe calls handle for every event after position after, in global
// order, as eventstore.Store describes: catch-up in pages, then live.
//
// Live delivery is woken by this Store's own appends directly and by other
// processes' appends through LISTEN/NOTIFY on one connection per Store, shared
// by all its subscriptions; it also polls, so a lost notification delays an
// event by at most the poll interval. Events reach handle only once their
// place in the global order is final (see the package comment), so a
// transaction left open anywhere on the server delays them; meanwhile the
// subscription polls with a short backoff. Failed reads are logged and retried
// with backoff from the last delivered position, indefinitely, until ctx is
// done. Subscribe returns ctx.Err() when ctx is done, or the error handle
// returned, unwrapped.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.HandlerFunc) error {
	s.startListening()
	defer s.stopListening()

	pos := after
	retry := firstRetry
	pendingPoll := firstPendingPoll
	for {
		// Take the wake channel before reading, so an append that commits
		// after the read has started still wakes the wait below.
		wake := s.wake.wait()
		events, pending, err := s.readPage(ctx, pos)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.opts.logger.WarnContext(ctx, "event store subscription: read failed, retrying", "after", pos.String(), "retry_in", retry, "error", err)
			if err := sleep(ctx, retry); err != nil {
				return err
			}
			retry = min(2*retry, maxRetry)
			continue
		}
		retry = firstRetry

		for _, e := range events {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := handle(ctx, e); err != nil {
				return err
			}
			pos = e.Position
		}
		if len(events) == s.opts.pageSize {
			continue // catching up
		}

		var delay time.Duration
		switch {
		case pending && len(events) == 0:
			delay = pendingPoll
			pendingPoll = min(2*pendingPoll, maxPendingPoll)
		case pending:
			pendingPoll = firstPendingPoll
			delay = pendingPoll
		default:
			pendingPoll = firstPendingPoll
			delay = s.opts.pollInterval
			if !s.listening.Load() {
				delay = min(delay, pollWhileDeaf)
			}
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// readPage reads the next page of a subscription and, in the same round trip,
// whether committed events are being held back by an older transaction.
//
// The two statements see different snapshots, and the order matters: pending
// is checked first. Checked after the read, it could miss an event the read
// found held back, if the older transaction ended in between (the event is
// then no longer held back, but was not read either), and the subscriber
// would wait for the idle poll. Checked first, an event committed before the
// check is either read or reported pending, and one committed after it wakes
// the subscriber, which took its wake channel before both.
func (s *Store) readPage(ctx context.Context, after eventstore.Position) ([]eventstore.RecordedEvent, bool, error) {
	minor, ok := afterMinor(after)
	if !ok {
		return nil, false, nil
	}
	var b pgx.Batch
	b.Queue(pendingEvents)
	b.Queue(readAll, after.Major, minor, s.opts.pageSize)
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()

	var pending bool
	if err := br.QueryRow().Scan(&pending); err != nil {
		return nil, false, fmt.Errorf("checking for held-back events: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return nil, false, fmt.Errorf("reading events after %s: %w", after, err)
	}
	events, err := scanEvents(rows, s.opts.pageSize)
	if err != nil {
		return nil, false, fmt.Errorf("reading events after %s: %w", after, err)
	}
	if err := br.Close(); err != nil {
		return nil, false, fmt.Errorf("reading events after %s: %w", after, err)
	}
	return events, pending, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// announce tells subscribers that an append committed: this Store's at once,
// other Store values' (other processes) through one coalesced NOTIFY.
func (s *Store) announce() {
	s.wake.broadcast()
	s.notifyPending.Store(true)
	if s.notifying.CompareAndSwap(false, true) {
		go s.sendNotifications()
	}
}

// sendNotifications sends NOTIFYs until no append is left unannounced, each
// its own small transaction outside every append's. It runs in at most one
// goroutine per Store and sends at most one notification per notifySpacing,
// so that under load notifications cost a few transactions a second, not one
// per append or batch; the first append after a quiet spell is announced at
// once.
func (s *Store) sendNotifications() {
	for {
		for s.notifyPending.Swap(false) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := s.pool.Exec(ctx, notify, notifyChannel, s.id)
			cancel()
			if err != nil {
				// Other processes' subscribers will find the events by
				// polling.
				s.opts.logger.Debug("event store: sending notification failed", "error", err)
			}
			time.Sleep(notifySpacing)
		}
		s.notifying.Store(false)
		// An append that set notifyPending after the loop above but saw
		// notifying still true left the job to us: take it back.
		if !s.notifyPending.Load() || !s.notifying.CompareAndSwap(false, true) {
			return
		}
	}
}

// startListening starts the shared listening connection with the first
// subscription.
func (s *Store) startListening() {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.subscribers++
	if s.subscribers > 1 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stopListen = cancel
	s.listenDone = make(chan struct{})
	go s.listen(ctx, s.listenDone)
}

// stopListening closes the listening connection with the last subscription.
func (s *Store) stopListening() {
	s.listenMu.Lock()
	defer s.listenMu.Unlock()
	s.subscribers--
	if s.subscribers > 0 {
		return
	}
	s.stopListen()
	<-s.listenDone
}

// listen keeps one connection listening for notifications and wakes the
// subscribers on each, reconnecting with backoff when the connection fails.
func (s *Store) listen(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	backoff := firstRetry
	for {
		err := s.listenOnce(ctx)
		s.listening.Store(false)
		s.wake.broadcast() // switch the subscribers to polling
		if ctx.Err() != nil {
			return
		}
		s.opts.logger.Warn("event store: listening connection failed, subscribers poll until it is back", "retry_in", backoff, "error", err)
		if sleep(ctx, backoff) != nil {
			return
		}
		backoff = min(2*backoff, maxRetry)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	// A connection of its own rather than one of the pool's: it is held for
	// as long as subscriptions run, and must not count against the pool.
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{notifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	s.listening.Store(true)
	// Appends may have committed while no one listened.
	s.wake.broadcast()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("waiting for notifications: %w", err)
		}
		if n.Payload != s.id {
			s.wake.broadcast()
		}
	}
}

// signal wakes every goroutine waiting on it at once. A waiter takes the
// channel before it checks for work and waits on it after, so a broadcast in
// between is not lost.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel that is closed at the next broadcast.
func (b *signal) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// broadcast wakes the current waiters. Without waiters it costs a lock.
func (b *signal) broadcast() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}
