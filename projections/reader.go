package projections

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/projections/internal/dbsqlc"
)

// ErrNotFound is returned (wrapped) by the Reader for an id no document has.
// The HTTP layer answers it with the page's own 404 code.
var ErrNotFound = errors.New("projections: not found")

// Doc is a stored page as the API serves it.
type Doc struct {
	// JSON is the document, to be written as it is.
	JSON []byte
	// Version is the version of the aggregate the page shows (its stream
	// version: If-Match / ETag), 0 for pages without one.
	Version uint64
}

// Page is one page of a list (API.md's {"data", "has_more", "next_cursor"}).
type Page struct {
	Data    []json.RawMessage
	HasMore bool
	// NextCursor is the ?cursor= of the next page, "" on the last one.
	NextCursor string
}

// CustomerFilter selects customers for the overview.
type CustomerFilter struct {
	// Query matches, case-insensitively, any part of the name, email, id or
	// one of the customer's order numbers.
	Query string
	// Status keeps the customers who have a subscription in that status.
	Status string
	// Cursor is the NextCursor of the previous page, "" for the first.
	Cursor string
	// Limit is the page size: 0 means 20, at most 100.
	Limit int
}

// Status is where one projection stands (GET /v1/projections).
type Status struct {
	Name string `json:"name"`
	// Position is the token of the last event the projection has applied
	// (or skipped), "0" before the first.
	Position string `json:"position"`
	// Lag is the number of events in the log after Position, counted up to
	// LagLimit (a larger lag reads as LagLimit); -1 when the Reader has no
	// store to count with.
	Lag int64 `json:"lag"`
	// Status is live, rebuilding or failed.
	Status string `json:"status"`
	// Version is the projection version of the live read model.
	Version int `json:"version"`
	// Error says why the status is failed.
	Error string `json:"error,omitempty"`
}

// The list limits of API.md.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	// LagLimit bounds the count of Status.Lag, so that a status request
	// reads a bounded part of the log however far behind a projection is.
	LagLimit = 10000
)

// Reader serves the read models: every dashboard page with one primary-key
// select (plus, for the customer page, a few bytes filled in: patch.go),
// read-your-writes waits, and the projections' status. It is safe for
// concurrent use. Close it to stop its listening connection.
type Reader struct {
	pool   *pgxpool.Pool
	store  eventstore.Store
	clock  func() time.Time
	loc    *time.Location
	names  []string
	logger *slog.Logger

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every notification
	listening  bool
	stopListen context.CancelFunc
	listenDone chan struct{}
}

// ReaderOption configures a Reader.
type ReaderOption func(*Reader)

// WithClock sets the Reader's notion of now, which subscribed_days counts
// to (default time.Now): the service's clock, which a test clock moves.
func WithClock(now func() time.Time) ReaderOption { return func(r *Reader) { r.clock = now } }

// WithLocation sets the business time zone calendar days are counted in
// (default UTC).
func WithLocation(loc *time.Location) ReaderOption { return func(r *Reader) { r.loc = loc } }

// WithStore gives the Reader the event store, which Statuses counts lag in.
func WithStore(s eventstore.Store) ReaderOption { return func(r *Reader) { r.store = s } }

// WithProjections sets the projections WaitFor waits for and Statuses
// lists (default Names()).
func WithProjections(names ...string) ReaderOption { return func(r *Reader) { r.names = names } }

// WithLogger sets where the Reader reports trouble it recovers from (a lost
// listening connection). Default slog.Default().
func WithLogger(l *slog.Logger) ReaderOption { return func(r *Reader) { r.logger = l } }

// NewReader returns a Reader over the read models in pool.
func NewReader(pool *pgxpool.Pool, opts ...ReaderOption) *Reader {
	r := &Reader{pool: pool, clock: time.Now, loc: time.UTC, names: Names(), logger: slog.Default(), changed: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Close stops the Reader's listening connection, if it has one. WaitFor
// still works after Close, by polling.
func (r *Reader) Close() {
	r.mu.Lock()
	stop, done := r.stopListen, r.listenDone
	r.stopListen = nil
	r.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// The read statements. Each names its projection's live schema; see
// schema.go for why that is all a rebuild's swap needs.
var (
	customerSQL = `SELECT d.doc, d.holes, d.version, s.doc FROM rm_customer_detail.documents d
LEFT JOIN rm_customer_detail.documents s ON s.id = '` + settingsDocID + `'
WHERE d.id = $1`
	orderSQL        = documentSQL("order")
	subscriptionSQL = documentSQL("subscription")
	invoiceSQL      = documentSQL("invoice")
	emailsSQL       = `SELECT doc, sort_key, id FROM rm_email_history.documents WHERE parent = $1`
	emailsAfterSQL  = emailsSQL + ` AND (sort_key, id) < ($2, $3)`
	emailOwnerSQL   = `SELECT EXISTS (SELECT FROM rm_email_history.states WHERE kind = '` + kindCustomer + `' AND id = $1)`
)

// rebuildRunningSQL reports whether the advisory lock of a rebuild
// (rebuildLockKey) is held: pg_locks shows a bigint key as classid (high
// half) and objid (low half), with objsubid 1.
const rebuildRunningSQL = `SELECT EXISTS (SELECT FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND ((classid::bigint << 32) | objid::bigint) = $1)`

func documentSQL(projection string) string {
	return `SELECT doc, holes, version FROM ` + quote(schemaName(projection)) + `.documents WHERE id = $1`
}

// Customer returns the customer detail page of id.
func (r *Reader) Customer(ctx context.Context, id string) (Doc, error) {
	if _, err := domain.ParseCustomerID(id); err != nil {
		return Doc{}, fmt.Errorf("customer %q: %w", id, ErrNotFound)
	}
	var (
		doc, settings []byte
		holes         []int64
		version       int64
	)
	err := r.pool.QueryRow(ctx, customerSQL, id).Scan(&doc, &holes, &version, &settings)
	if errors.Is(err, pgx.ErrNoRows) {
		return Doc{}, fmt.Errorf("customer %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Doc{}, fmt.Errorf("reading customer %s: %w", id, err)
	}
	doc, err = patch(doc, holes, r.env(bytes.Equal(settings, trueJSON)))
	if err != nil {
		return Doc{}, fmt.Errorf("reading customer %s: %w", id, err)
	}
	return Doc{JSON: doc, Version: uint64(version)}, nil
}

var trueJSON = []byte("true")

func (r *Reader) env(trackAndTrace bool) patchEnv {
	return patchEnv{now: r.clock().In(r.loc), trackAndTrace: trackAndTrace}
}

// Order returns the order page of id.
func (r *Reader) Order(ctx context.Context, id string) (Doc, error) {
	if _, err := domain.ParseOrderID(id); err != nil {
		return Doc{}, fmt.Errorf("order %q: %w", id, ErrNotFound)
	}
	return r.document(ctx, orderSQL, "order", id)
}

// Subscription returns the subscription page of id.
func (r *Reader) Subscription(ctx context.Context, id string) (Doc, error) {
	if _, err := domain.ParseSubscriptionID(id); err != nil {
		return Doc{}, fmt.Errorf("subscription %q: %w", id, ErrNotFound)
	}
	return r.document(ctx, subscriptionSQL, "subscription", id)
}

// Invoice returns the invoice document of id.
func (r *Reader) Invoice(ctx context.Context, id string) (Doc, error) {
	if _, err := domain.ParseInvoiceID(id); err != nil {
		return Doc{}, fmt.Errorf("invoice %q: %w", id, ErrNotFound)
	}
	return r.document(ctx, invoiceSQL, "invoice", id)
}

func (r *Reader) document(ctx context.Context, sql, what, id string) (Doc, error) {
	var (
		doc     []byte
		holes   []int64
		version int64
	)
	err := r.pool.QueryRow(ctx, sql, id).Scan(&doc, &holes, &version)
	if errors.Is(err, pgx.ErrNoRows) {
		return Doc{}, fmt.Errorf("%s %s: %w", what, id, ErrNotFound)
	}
	if err != nil {
		return Doc{}, fmt.Errorf("reading %s %s: %w", what, id, err)
	}
	if doc, err = patch(doc, holes, r.env(false)); err != nil {
		return Doc{}, fmt.Errorf("reading %s %s: %w", what, id, err)
	}
	return Doc{JSON: doc, Version: uint64(version)}, nil
}

// Customers returns a page of the customers overview, newest customer
// first. An invalid cursor, limit or status is a *domain.Error naming the
// parameter.
func (r *Reader) Customers(ctx context.Context, f CustomerFilter) (Page, error) {
	limit, err := pageLimit(f.Limit)
	if err != nil {
		return Page{}, err
	}
	sql := `SELECT doc, sort_key, id FROM rm_customers_overview.documents WHERE true`
	// Planned for its arguments each time (not as a cached generic plan),
	// so that a ?query= uses the trigram index and a plain page the sort
	// order's.
	args := []any{pgx.QueryExecModeExec}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args)-1)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		sql += ` AND search LIKE ` + arg("%"+escapeLike(strings.ToLower(q))+"%")
	}
	if f.Status != "" {
		if !validStatus(f.Status) {
			return Page{}, domain.Invalid("status", "status must be one of pending, active, past_due, paused, canceling, canceled, got %q", f.Status)
		}
		sql += ` AND ` + arg(f.Status) + ` = ANY (statuses)`
	}
	if f.Cursor != "" {
		at, id, err := parseCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		sql += ` AND (sort_key, id) < (` + arg(at) + `, ` + arg(id) + `)`
	}
	sql += ` ORDER BY sort_key DESC, id DESC LIMIT ` + arg(limit+1)
	return r.page(ctx, sql, args, limit, "customers")
}

// CustomerEmails returns a page of the customer's email history, newest
// planned first. An unknown customer is ErrNotFound.
func (r *Reader) CustomerEmails(ctx context.Context, customerID, cursor string, limit int) (Page, error) {
	if _, err := domain.ParseCustomerID(customerID); err != nil {
		return Page{}, fmt.Errorf("customer %q: %w", customerID, ErrNotFound)
	}
	n, err := pageLimit(limit)
	if err != nil {
		return Page{}, err
	}
	sql, args := emailsSQL, []any{customerID}
	if cursor != "" {
		at, id, err := parseCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		sql, args = emailsAfterSQL, append(args, at, id)
	}
	sql += ` ORDER BY sort_key DESC, id DESC LIMIT ` + strconv.Itoa(n+1)
	p, err := r.page(ctx, sql, args, n, "emails")
	if err != nil || len(p.Data) > 0 || cursor != "" {
		return p, err
	}
	var known bool
	if err := r.pool.QueryRow(ctx, emailOwnerSQL, customerID).Scan(&known); err != nil {
		return Page{}, fmt.Errorf("reading customer %s: %w", customerID, err)
	}
	if !known {
		return Page{}, fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
	}
	return p, nil
}

func (r *Reader) page(ctx context.Context, sql string, args []any, limit int, what string) (Page, error) {
	rows, err := r.pool.Query(ctx, sql, args...)
	if err != nil {
		return Page{}, fmt.Errorf("listing %s: %w", what, err)
	}
	defer rows.Close()
	var (
		p      Page
		lastAt int64
		lastID string
	)
	for rows.Next() {
		var (
			doc []byte
			at  int64
			id  string
		)
		if err := rows.Scan(&doc, &at, &id); err != nil {
			return Page{}, fmt.Errorf("listing %s: %w", what, err)
		}
		if len(p.Data) == limit {
			p.HasMore = true
			break
		}
		p.Data = append(p.Data, doc)
		lastAt, lastID = at, id
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("listing %s: %w", what, err)
	}
	if p.HasMore {
		p.NextCursor = formatCursor(lastAt, lastID)
	}
	return p, nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n == 0:
		return DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return 0, domain.Invalid("limit", "limit must be between 1 and %d, got %d", MaxLimit, n)
	}
	return n, nil
}

func validStatus(s string) bool {
	switch subscription.Status(s) {
	case subscription.StatusPending, subscription.StatusActive, subscription.StatusPastDue,
		subscription.StatusPaused, subscription.StatusCanceling, subscription.StatusCanceled:
		return true
	}
	return false
}

// escapeLike escapes LIKE's wildcards (and its escape character).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// A cursor is the sort key and id of the last row of a page, opaque to
// clients: base64url("<sort key>.<id>").
func formatCursor(at int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at, 10) + "." + id))
}

func parseCursor(c string) (int64, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		at, id, ok := strings.Cut(string(raw), ".")
		if n, err := strconv.ParseInt(at, 10, 64); ok && err == nil && id != "" {
			return n, id, nil
		}
	}
	return 0, "", domain.Invalid("cursor", "cursor must be the next_cursor of a previous page")
}

// WaitFor returns nil once every projection (WithProjections) has applied
// (or skipped) the event at pos, the X-Event-Position of a write; or ctx's
// error when ctx is done first (the HTTP layer gives it 5 s, then answers 503
// projection_lagging). It wakes on the NOTIFY each projection sends from its
// apply transaction, and polls every 10 ms besides, so a lost notification
// costs at most that.
func (r *Reader) WaitFor(ctx context.Context, pos eventstore.Position) error {
	if pos == eventstore.Start {
		return nil
	}
	r.listen()
	timer := time.NewTimer(0)
	<-timer.C
	defer timer.Stop()
	for {
		changed := r.changedChan()
		ok, err := r.reached(ctx, pos)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		timer.Reset(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			if !timer.Stop() {
				<-timer.C
			}
		case <-timer.C:
		}
	}
}

// reached reports whether every projection's checkpoint is at or past pos.
func (r *Reader) reached(ctx context.Context, pos eventstore.Position) (bool, error) {
	cps, err := eventrouter.Checkpoints(ctx, r.pool)
	if err != nil {
		return false, err
	}
	at := make(map[string]eventstore.Position, len(cps))
	for _, c := range cps {
		at[c.Name] = c.Position
	}
	for _, n := range r.names {
		if at[n].Less(pos) {
			return false, nil
		}
	}
	return true, nil
}

func (r *Reader) changedChan() chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

func (r *Reader) broadcast() {
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// listen starts, once, the goroutine that LISTENs for the projections'
// notifications on a connection of its own (not one of the pool's).
func (r *Reader) listen() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.listening {
		return
	}
	r.listening = true
	ctx, cancel := context.WithCancel(context.Background())
	r.stopListen, r.listenDone = cancel, make(chan struct{})
	go func() {
		defer close(r.listenDone)
		for ctx.Err() == nil {
			err := r.listenOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			r.logger.Warn("projections: listening for notifications failed; WaitFor polls meanwhile", "error", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}()
}

func (r *Reader) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+notifyChannel); err != nil {
		return err
	}
	r.broadcast() // anything missed while not listening
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		r.broadcast()
	}
}

// Statuses returns where each projection stands, in the order of Names.
func (r *Reader) Statuses(ctx context.Context) ([]Status, error) {
	regs, err := dbsqlc.New(r.pool).RegistryList(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the projection registry: %w", err)
	}
	reg := make(map[string]dbsqlc.ProjectionRegistry, len(regs))
	for _, g := range regs {
		reg[g.Name] = g
	}
	cps, err := eventrouter.Checkpoints(ctx, r.pool)
	if err != nil {
		return nil, err
	}
	at := make(map[string]eventstore.Position, len(cps))
	for _, c := range cps {
		at[c.Name] = c.Position
	}
	out := make([]Status, len(r.names))
	oldest := eventstore.Position{}
	for i, n := range r.names {
		pos := at[n]
		if i == 0 || pos.Less(oldest) {
			oldest = pos
		}
		st := Status{Name: n, Position: pos.Token(), Lag: -1, Status: "failed", Error: "never built: run subsd migrate or serve"}
		if g, ok := reg[n]; ok {
			st.Status, st.Error, st.Version = g.Status, g.Error, int(g.Version)
			if st.Status == "rebuilding" {
				// A process that died rebuilding leaves the status behind;
				// its lock tells whether the rebuild still runs.
				var running bool
				if err := r.pool.QueryRow(ctx, rebuildRunningSQL, rebuildLockKey(n)).Scan(&running); err != nil {
					return nil, fmt.Errorf("looking for a rebuild of %s: %w", n, err)
				}
				if !running {
					st.Status, st.Error = "failed", "a rebuild was interrupted; the read model is the one from before it"
				}
			}
			if st.Status == "live" {
				poisoned, err := eventrouter.PoisonedEvents(ctx, r.pool, n)
				if err != nil {
					return nil, err
				}
				count := 0
				for _, pe := range poisoned {
					if g.RebuiltAt == nil || pe.PoisonedAt.After(*g.RebuiltAt) {
						count++
					}
				}
				if count > 0 {
					st.Status = "failed"
					st.Error = fmt.Sprintf("%d events could not be applied (see consumer_poisoned_events); rebuild after the fix", count)
				}
			}
		}
		out[i] = st
	}
	if r.store != nil && len(out) > 0 {
		if err := r.countLag(ctx, oldest, out, at); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// countLag reads the log after the oldest checkpoint, up to LagLimit
// events, and counts for each projection the events after its own.
func (r *Reader) countLag(ctx context.Context, oldest eventstore.Position, out []Status, at map[string]eventstore.Position) error {
	var positions []eventstore.Position
	for pos := oldest; len(positions) < LagLimit; {
		events, err := r.store.ReadAll(ctx, pos, min(1000, LagLimit-len(positions)))
		if err != nil {
			return fmt.Errorf("counting projection lag: %w", err)
		}
		for _, e := range events {
			positions = append(positions, e.Position)
		}
		if len(events) == 0 {
			break
		}
		pos = events[len(events)-1].Position
	}
	for i := range out {
		cp := at[out[i].Name]
		var n int64
		for _, p := range positions {
			if cp.Less(p) {
				n++
			}
		}
		out[i].Lag = n
	}
	return nil
}
