package projections

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/projections/internal/dbsqlc"
)

// ErrRebuildRunning is returned by Rebuild when a rebuild of the same
// projection is already running (in this process or another).
var ErrRebuildRunning = errors.New("projections: a rebuild of this projection is already running")

// Rebuild rebuilds the projection named name from the whole event log into
// fresh tables and swaps them in atomically (see schema.go): readers see the
// old read model until the swap commits and the new one after it, never a
// mix. It returns ErrUnknownProjection for an unknown name and
// ErrRebuildRunning when one is already running; a failed rebuild leaves the
// live read model as it was and marks the projection failed. It blocks until
// the swap (seconds per million events): callers that answer at once (POST
// .../rebuild → 202) run it in a goroutine of their own, on a context that
// outlives the request. The eventrouter's tables must exist
// (eventrouter.Migrate), and so must this package's (Migrate).
//
// The live consumer may keep running meanwhile: the swap locks its
// checkpoint, catches the new tables up to it (or moves it up to where the
// new tables are), and only then replaces the schema.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, name string) error {
	p, err := ByName(name)
	if err != nil {
		return err
	}
	return rebuild(ctx, pool, store, []Projection{p})
}

// RebuildAll rebuilds every projection, reading and decoding the log once
// for all of them (subsd replay without --projection).
func RebuildAll(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store) error {
	return rebuild(ctx, pool, store, All())
}

// Ensure makes every projection's read model exist at the version of this
// build: it applies Migrate, then rebuilds (together, in one pass over the
// log) every projection whose schema is missing or was built by another
// Version. This is how read models "migrate". Call it on start, after the
// event store's and eventrouter's migrations and before the router runs.
// Another process rebuilding the same projection makes it wait for that
// rebuild rather than fail.
func Ensure(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store) error {
	if err := Migrate(ctx, pool); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		stale, err := staleProjections(ctx, pool)
		if err != nil || len(stale) == 0 {
			return err
		}
		err = rebuild(ctx, pool, store, stale)
		if !errors.Is(err, ErrRebuildRunning) || attempt >= 600 {
			return err
		}
		select { // another process is rebuilding: wait for it, then check again
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// staleProjections returns the projections whose read model is missing or
// of another version.
func staleProjections(ctx context.Context, pool *pgxpool.Pool) ([]Projection, error) {
	q := dbsqlc.New(pool)
	regs, err := q.RegistryList(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the projection registry: %w", err)
	}
	version := map[string]int32{}
	for _, r := range regs {
		version[r.Name] = r.Version
	}
	var stale []Projection
	for _, p := range All() {
		exists, err := q.SchemaExists(ctx, schemaName(p.Name()))
		if err != nil {
			return nil, fmt.Errorf("looking for the schema of %s: %w", p.Name(), err)
		}
		if v, ok := version[p.Name()]; !ok || !exists || int(v) != p.Version() {
			stale = append(stale, p)
		}
	}
	return stale, nil
}

// rebuildPageSize is how many events a rebuild reads per query.
const rebuildPageSize = 5000

func rebuild(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection) (err error) {
	unlock, err := lockRebuilds(ctx, pool, ps)
	if err != nil {
		return err
	}
	defer unlock()

	q := dbsqlc.New(pool)
	for _, p := range ps {
		if err := q.RegistrySetStatus(ctx, dbsqlc.RegistrySetStatusParams{Name: p.Name(), Status: "rebuilding"}); err != nil {
			return fmt.Errorf("marking %s rebuilding: %w", p.Name(), err)
		}
	}
	var failed []error
	fail := func(p Projection, err error) {
		failed = append(failed, fmt.Errorf("rebuilding %s: %w", p.Name(), err))
		// The live read model is untouched; record why the new one is not.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(cctx, `DROP SCHEMA IF EXISTS `+quote(nextSchemaName(p.Name()))+` CASCADE`)
		_ = q.RegistrySetStatus(cctx, dbsqlc.RegistrySetStatusParams{Name: p.Name(), Status: "failed", Error: err.Error()})
	}

	phase := time.Now()
	sessions, built, err := buildInMemory(ctx, store, ps)
	trace("read and apply", &phase)
	if err != nil {
		for _, p := range ps {
			fail(p, err)
		}
		return errors.Join(failed...)
	}
	// Write the projections' tables two at a time: one's rows are encoded
	// while another's are copied. Each is swapped in as soon as written.
	var mu sync.Mutex
	g := &errgroup.Group{}
	g.SetLimit(2)
	for i, p := range ps {
		s := sessions[i]
		sessions[i] = nil // let the states go once written
		g.Go(func() error {
			err := writeSchema(ctx, pool, p, s)
			if err == nil {
				err = swap(ctx, pool, store, p, built)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fail(p, err)
			}
			trace("write and swap "+p.Name(), &phase)
			return nil
		})
	}
	_ = g.Wait()
	return errors.Join(failed...)
}

// lockRebuilds takes, for each projection, the session-level advisory lock
// that admits one rebuild at a time across processes, on one connection
// held until unlock.
func lockRebuilds(ctx context.Context, pool *pgxpool.Pool, ps []Projection) (unlock func(), err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("rebuilding: %w", err)
	}
	var held []int64
	unlock = func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, k := range held {
			if _, err := conn.Exec(cctx, `SELECT pg_advisory_unlock($1)`, k); err != nil {
				// A session lock must not go back to the pool with the
				// connection: close it, which releases every lock.
				_ = conn.Hijack().Close(cctx)
				return
			}
		}
		conn.Release()
	}
	for _, p := range ps {
		k := rebuildLockKey(p.Name())
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, k).Scan(&ok); err != nil {
			unlock()
			return nil, fmt.Errorf("rebuilding %s: taking the rebuild lock: %w", p.Name(), err)
		}
		if !ok {
			unlock()
			return nil, fmt.Errorf("rebuilding %s: %w", p.Name(), ErrRebuildRunning)
		}
		held = append(held, k)
	}
	return unlock, nil
}

func rebuildLockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("subsd projections rebuild " + name))
	return int64(h.Sum64())
}

// page is a page of events read from the log, decoded in the background.
type page struct {
	events  []eventstore.RecordedEvent
	decoded []Event
	ready   chan struct{}
	err     error
}

// buildInMemory applies the whole log, as far as ReadAll returns it, to a
// memory-backed session per projection, reading and decoding each event
// once for all of them. Reading, decoding and applying overlap: one
// goroutine reads pages in order, each page is decoded in a goroutine of
// its own (bounded by GOMAXPROCS), and this goroutine applies the pages in
// order. It returns the sessions and the position of the last event read.
func buildInMemory(ctx context.Context, store eventstore.Store, ps []Projection) ([]*Session, eventstore.Position, error) {
	sessions := make([]*Session, len(ps))
	for i, p := range ps {
		sessions[i] = newMemorySession(p)
		sessions[i].history = historyOf(store)
	}
	wanted := func(typ string) bool {
		for _, p := range ps {
			if handles(p, typ) {
				return true
			}
		}
		return false
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan *page, 4)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var readErr error
	go func() {
		defer close(pages)
		pos := eventstore.Start
		for {
			events, err := store.ReadAll(ctx, pos, rebuildPageSize)
			if err != nil {
				readErr = err
				return
			}
			if len(events) == 0 {
				return
			}
			pg := &page{events: events, ready: make(chan struct{})}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem; close(pg.ready) }()
				pg.decoded = make([]Event, len(pg.events))
				for i, re := range pg.events {
					if !wanted(re.Type) {
						continue
					}
					ev, err := decode(re)
					if err != nil {
						pg.err = err
						return
					}
					pg.decoded[i] = Event{RecordedEvent: re, Data: ev}
				}
			}()
			select {
			case pages <- pg:
			case <-ctx.Done():
				return
			}
			pos = events[len(events)-1].Position
			if len(events) < rebuildPageSize {
				return
			}
		}
	}()

	// Each projection applies the pages, in order, in a goroutine of its
	// own: the sessions are independent and the decoded pages read-only.
	feeds := make([]chan *page, len(ps))
	g, gctx := errgroup.WithContext(ctx)
	for j := range ps {
		feeds[j] = make(chan *page, 4)
		g.Go(func() error {
			for pg := range feeds[j] {
				for _, e := range pg.decoded {
					if e.Data != nil && handles(ps[j], e.Type) {
						if err := sessions[j].apply(gctx, e); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
	}
	built := eventstore.Start
	var waited time.Duration
	dispatchErr := func() error {
		defer func() {
			for _, f := range feeds {
				close(f)
			}
		}()
		for {
			t0 := time.Now()
			pg, ok := <-pages
			if ok {
				<-pg.ready
			}
			waited += time.Since(t0)
			if !ok {
				return nil
			}
			if pg.err != nil {
				return pg.err
			}
			for _, f := range feeds {
				select {
				case f <- pg:
				case <-gctx.Done():
					return nil // an applier failed: g.Wait says why
				}
			}
			built = pg.events[len(pg.events)-1].Position
		}
	}()
	if err := errors.Join(dispatchErr, g.Wait()); err != nil {
		return nil, built, err
	}
	if traceRebuild != nil {
		traceRebuild("  waiting for decoded pages", waited)
	}
	if readErr != nil {
		return nil, built, fmt.Errorf("reading the event log: %w", readErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, built, err
	}
	return sessions, built, nil
}

// copyChunk is how many rows one COPY statement writes: each is its own
// transaction, and a long one would hold back the event store's readers
// (which wait for the oldest running transaction).
const copyChunk = 20000

// writeSchema creates p's next schema and bulk-loads the session's states
// and documents into it with COPY (states and documents on two connections
// at once), then adds the keys and indexes.
func writeSchema(ctx context.Context, pool *pgxpool.Pool, p Projection, s *Session) error {
	next := nextSchemaName(p.Name())
	if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+quote(next)+` CASCADE`); err != nil {
		return fmt.Errorf("dropping %s: %w", next, err)
	}
	var lz4 bool
	if err := pool.QueryRow(ctx, lz4SQL).Scan(&lz4); err != nil {
		return fmt.Errorf("creating %s: %w", next, err)
	}
	if _, err := pool.Exec(ctx, createTablesSQL(lz4, next)); err != nil {
		return fmt.Errorf("creating %s: %w", next, err)
	}

	keys := make([]key, 0, len(s.states))
	for k, e := range s.states {
		if e.v != nil {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id))
	})

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return copyChunks(gctx, pool, pgx.Identifier{next, "states"}, stateColumns, keys, func(k key) ([]any, bool, error) {
			raw, err := json.Marshal(s.states[k].v)
			if err != nil {
				return nil, false, fmt.Errorf("encoding state %s/%s: %w", k.kind, k.id, err)
			}
			return []any{k.kind, k.id, raw}, true, nil
		})
	})
	g.Go(func() error {
		return copyChunks(gctx, pool, pgx.Identifier{next, "documents"}, documentColumns, keys, func(k key) ([]any, bool, error) {
			doc, ok, err := p.Render(k.kind, k.id, s.states[k].v)
			if err != nil || !ok {
				return nil, false, err
			}
			return docArgs(k.id, doc), true, nil
		})
	})
	if err := g.Wait(); err != nil {
		return err
	}

	stmts := []string{ddl(createKeys, next)}
	for _, ix := range p.Indexes() {
		stmts = append(stmts, ddl(ix, next))
	}
	stmts = append(stmts, `ANALYZE `+quote(next)+`.documents`, `ANALYZE `+quote(next)+`.states`)
	for _, stmt := range stmts {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("indexing %s: %w", next, err)
		}
	}
	return nil
}

// copyChunks COPYs the rows of keys (those for which row says ok) into
// table, at most copyChunk rows per statement. Rows are made by one
// goroutine and streamed to the COPY by another, so that encoding and
// writing overlap and only a few rows are held at a time.
func copyChunks(ctx context.Context, pool *pgxpool.Pool, table pgx.Identifier, columns []string, keys []key, row func(key) ([]any, bool, error)) error {
	rows := make(chan []any, 256)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(rows)
		for _, k := range keys {
			r, ok, err := row(k)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			select {
			case rows <- r:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	g.Go(func() error {
		for done := false; !done; {
			n := 0
			_, err := pool.CopyFrom(gctx, table, columns, pgx.CopyFromFunc(func() ([]any, error) {
				if n == copyChunk {
					return nil, nil
				}
				r, ok := <-rows
				if !ok {
					done = true
					return nil, nil
				}
				n++
				return r, nil
			}))
			if err != nil {
				return fmt.Errorf("copying into %s: %w", table.Sanitize(), err)
			}
		}
		return nil
	})
	return g.Wait()
}

// applyRange applies the events after from, up to and including to (or to
// the end of what ReadAll returns when to is nil), to p's tables in schema,
// through a session backed by tx, or by a transaction per page when tx is
// nil. It returns the position of the last event it saw.
func applyRange(ctx context.Context, pool *pgxpool.Pool, tx pgx.Tx, store eventstore.Store, p Projection, schema string, from eventstore.Position, to *eventstore.Position) (eventstore.Position, error) {
	pos := from
	for {
		events, err := store.ReadAll(ctx, pos, rebuildPageSize)
		if err != nil {
			return pos, fmt.Errorf("reading the event log: %w", err)
		}
		if to != nil {
			events = slices.DeleteFunc(events, func(e eventstore.RecordedEvent) bool { return to.Less(e.Position) })
		}
		if len(events) == 0 {
			return pos, nil
		}
		run := func(tx pgx.Tx) error {
			s := newTxSession(p, tx, schema)
			s.history = historyOf(store)
			b := &pgx.Batch{}
			for _, re := range events {
				if !handles(p, re.Type) {
					continue
				}
				ev, err := decode(re)
				if err != nil {
					return err
				}
				if ev == nil {
					continue
				}
				if err := s.apply(ctx, Event{RecordedEvent: re, Data: ev}); err != nil {
					return err
				}
			}
			if err := s.queueWrites(b); err != nil {
				return err
			}
			return tx.SendBatch(ctx, b).Close()
		}
		if tx != nil {
			err = run(tx)
		} else {
			err = pgx.BeginFunc(ctx, pool, run)
		}
		if err != nil {
			return pos, err
		}
		pos = events[len(events)-1].Position
		if len(events) < rebuildPageSize {
			return pos, nil
		}
	}
}

// swapAttempts bounds the tries of a swap that could not get its locks in
// swapLockTimeout (a long read or a stuck consumer transaction).
const (
	swapAttempts    = 5
	swapLockTimeout = "2s"
)

// swap catches p's next schema up with the log, then in one transaction
// locks p's checkpoint, brings the next schema and the checkpoint to the
// same position, replaces the live schema with the next one and records
// p's version.
func swap(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, p Projection, built eventstore.Position) error {
	next := nextSchemaName(p.Name())
	// Catch up outside the swap, so that the swap itself has little to do
	// while it holds the checkpoint lock.
	built, err := applyRange(ctx, pool, nil, store, p, next, built, nil)
	if err != nil {
		return fmt.Errorf("catching up: %w", err)
	}
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+swapLockTimeout+`'`); err != nil {
				return err
			}
			live, err := lockCheckpoint(ctx, tx, p.Name())
			if err != nil {
				return err
			}
			switch {
			case built.Less(live):
				// The live consumer went on meanwhile: apply what it applied.
				if built, err = applyRange(ctx, pool, tx, store, p, next, built, &live); err != nil {
					return fmt.Errorf("catching up to the live checkpoint: %w", err)
				}
				if built != live {
					return fmt.Errorf("catching up to the live checkpoint %s: the log ends at %s", live, built)
				}
			case live.Less(built):
				// The new tables are ahead (the consumer was not running):
				// the consumer goes on from them, skipping what they hold.
				if err := setCheckpoint(ctx, tx, p.Name(), built); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `DROP SCHEMA IF EXISTS `+quote(schemaName(p.Name()))+` CASCADE`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `ALTER SCHEMA `+quote(next)+` RENAME TO `+quote(schemaName(p.Name()))); err != nil {
				return err
			}
			if err := dbsqlc.New(tx).RegistrySwapped(ctx, dbsqlc.RegistrySwappedParams{Name: p.Name(), Version: int32(p.Version())}); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, p.Name()+" "+built.Token())
			return err
		})
		var pgErr *pgconn.PgError
		if err == nil || attempt >= swapAttempts || !errors.As(err, &pgErr) || pgErr.Code != "55P03" { // lock_not_available
			break
		}
	}
	if err != nil {
		return fmt.Errorf("swapping in %s: %w", next, err)
	}
	return nil
}

// traceRebuild, when set (by tests and benchmarks), receives the duration of
// each phase of a rebuild.
var traceRebuild func(phase string, d time.Duration)

func trace(phase string, since *time.Time) {
	if traceRebuild != nil {
		traceRebuild(phase, time.Since(*since))
	}
	*since = time.Now()
}
