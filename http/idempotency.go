package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/http/internal/dbsqlc"
)

//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate -f internal/dbsqlc/sqlc.yaml

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records which of this package's migrations have run.
const versionTable = "http_schema_version"

// Migrate applies this package's numbered migrations (the idempotency keys
// table). It is idempotent, and concurrent calls are serialised by the
// migrator's advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating http: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("migrating http: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrating http: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("migrating http: loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating http: %w", err)
	}
	return nil
}

const (
	headerIdempotencyKey = "Idempotency-Key"
	headerReplayed       = "Idempotent-Replayed"
	// maxIdempotencyKeyLen bounds a key (Stripe's limit).
	maxIdempotencyKeyLen = 255
	// idempotencyTTL is how long a key is remembered.
	idempotencyTTL = 24 * time.Hour
	// idempotencyLease is how long a claim outlives its holder: a request
	// renews it every third of it, so a claim older than this belongs to a
	// process that died mid-request, and another request may take it over.
	idempotencyLease = time.Minute
	// idempotencyCleanupEvery spaces the deletions of expired keys, which
	// run at claim time.
	idempotencyCleanupEvery = 10 * time.Minute
)

// replayedHeaders are the response headers a replay repeats.
var replayedHeaders = []string{"Content-Type", "X-Content-Type-Options", "Location", "ETag", headerEventPosition}

var (
	errKeyReused = domain.Conflict("idempotency_key_reused",
		"this Idempotency-Key was used with another request (body, query or If-Match); use a new key")
	errKeyInUse = domain.Conflict("idempotency_key_in_use",
		"a request with this Idempotency-Key is still in progress; retry after it completes")
)

// idempotencyStore keeps the keys in PostgreSQL (http_idempotency_keys).
type idempotencyStore struct {
	q           *dbsqlc.Queries
	mu          sync.Mutex
	lastCleanup time.Time
	// lease is idempotencyLease, shortened by tests.
	lease time.Duration
}

func newIdempotencyStore(pool *pgxpool.Pool) *idempotencyStore {
	return &idempotencyStore{q: dbsqlc.New(pool), lease: idempotencyLease}
}

func interval(d time.Duration) pgtype.Interval {
	return pgtype.Interval{Microseconds: d.Microseconds(), Valid: true}
}

// idemScope is one key in its scope.
type idemScope struct {
	tokenHash []byte
	method    string
	path      string
	key       string
}

// claim is what the request holding a key knows of it.
type claim struct {
	scope idemScope
	id    []byte
}

// storedResponse is a completed key's response.
type storedResponse struct {
	status  int
	headers map[string]string
	body    []byte
}

// acquire claims the key for a request with fingerprint hash. It returns the
// claim (run the handler, then complete or release it), or the stored
// response to replay, or errKeyReused / errKeyInUse.
func (st *idempotencyStore) acquire(ctx context.Context, sc idemScope, hash []byte) (*claim, *storedResponse, error) {
	st.cleanup(ctx)
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	// A row can vanish between a failed claim and the read (its holder
	// failed with a 5xx and released it), hence the second round.
	for range 3 {
		_, err := st.q.ClaimIdempotencyKey(ctx, dbsqlc.ClaimIdempotencyKeyParams{
			TokenHash: sc.tokenHash, Method: sc.method, Path: sc.path, IdemKey: sc.key,
			RequestHash: hash, Claim: id, Ttl: interval(idempotencyTTL), Lease: interval(st.lease),
		})
		if err == nil {
			return &claim{scope: sc, id: id}, nil, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return nil, nil, fmt.Errorf("claiming idempotency key: %w", err)
		}
		row, err := st.q.GetIdempotencyKey(ctx, dbsqlc.GetIdempotencyKeyParams{
			TokenHash: sc.tokenHash, Method: sc.method, Path: sc.path, IdemKey: sc.key, Ttl: interval(idempotencyTTL),
		})
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading idempotency key: %w", err)
		}
		if !bytes.Equal(row.RequestHash, hash) {
			return nil, nil, errKeyReused
		}
		if !row.Status.Valid {
			return nil, nil, errKeyInUse
		}
		resp := &storedResponse{status: int(row.Status.Int32), body: row.Body}
		if err := json.Unmarshal(row.Headers, &resp.headers); err != nil {
			return nil, nil, fmt.Errorf("reading idempotency key's headers: %w", err)
		}
		return nil, resp, nil
	}
	return nil, nil, errKeyInUse
}

// cleanup deletes expired keys, at most once every idempotencyCleanupEvery
// per process. Expired rows are ignored (and taken over) anyway; this only
// bounds the table. Its failure is not the request's.
func (st *idempotencyStore) cleanup(ctx context.Context) {
	st.mu.Lock()
	due := time.Since(st.lastCleanup) >= idempotencyCleanupEvery
	if due {
		st.lastCleanup = time.Now()
	}
	st.mu.Unlock()
	if due {
		_, _ = st.q.DeleteExpiredIdempotencyKeys(ctx, interval(idempotencyTTL))
	}
}

func (st *idempotencyStore) renew(ctx context.Context, c *claim) error {
	return st.q.RenewIdempotencyKey(ctx, dbsqlc.RenewIdempotencyKeyParams{
		TokenHash: c.scope.tokenHash, Method: c.scope.method, Path: c.scope.path, IdemKey: c.scope.key, Claim: c.id,
	})
}

func (st *idempotencyStore) complete(ctx context.Context, c *claim, resp storedResponse) error {
	headers, err := json.Marshal(resp.headers)
	if err != nil {
		return err
	}
	n, err := st.q.CompleteIdempotencyKey(ctx, dbsqlc.CompleteIdempotencyKeyParams{
		Status: pgtype.Int4{Int32: int32(resp.status), Valid: true}, Headers: headers, Body: resp.body,
		TokenHash: c.scope.tokenHash, Method: c.scope.method, Path: c.scope.path, IdemKey: c.scope.key, Claim: c.id,
	})
	if err != nil {
		return fmt.Errorf("storing the idempotent response: %w", err)
	}
	if n == 0 {
		return errors.New("storing the idempotent response: the claim was taken over (lease expired)")
	}
	return nil
}

func (st *idempotencyStore) release(ctx context.Context, c *claim) error {
	return st.q.ReleaseIdempotencyKey(ctx, dbsqlc.ReleaseIdempotencyKeyParams{
		TokenHash: c.scope.tokenHash, Method: c.scope.method, Path: c.scope.path, IdemKey: c.scope.key, Claim: c.id,
	})
}

// validIdempotencyKey reports whether a client's key is acceptable: 1 to 255
// printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < ' ' || k[i] > '~' {
			return false
		}
	}
	return true
}

// fingerprint hashes what makes two requests with one key the same request:
// the query, If-Match and the body, as canonical JSON when it parses (so a
// retry that re-serialises the same document still matches).
func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%q\n%q\n", r.URL.RawQuery, r.Header.Get("If-Match"))
	var v any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&v); err == nil {
		if _, err := dec.Token(); err == io.EOF {
			if canon, err := json.Marshal(v); err == nil {
				h.Write([]byte("json\n"))
				h.Write(canon)
				return h.Sum(nil)
			}
		}
	}
	h.Write([]byte("raw\n"))
	h.Write(body)
	return h.Sum(nil)
}

// idempotent honours Idempotency-Key on a write. Without the header, or
// without a Pool, it calls next. With it, the key (scoped by the caller's
// token, the method and the path) is claimed in PostgreSQL before next
// runs, so that concurrent duplicates never both execute: the second gets
// 409 idempotency_key_in_use. Next's response is stored unless it is a 5xx
// (so that a retry can succeed) and then sent. A later request with the key
// gets the stored response with Idempotent-Replayed: true if its query,
// If-Match and body are the same, and 409 idempotency_key_reused otherwise.
// Keys expire after 24 hours.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get(headerIdempotencyKey)
		if key == "" || s.idem == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !validIdempotencyKey(key) {
			s.writeError(w, r, invalidHeader(headerIdempotencyKey, "Idempotency-Key must be 1 to 255 printable ASCII characters"))
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				s.writeError(w, r, errBodyTooLarge)
				return
			}
			s.writeError(w, r, fmt.Errorf("reading the request body: %w", err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))

		ri := info(r.Context())
		tokenHash := sha256.Sum256([]byte(ri.token))
		sc := idemScope{tokenHash: tokenHash[:], method: r.Method, path: r.URL.Path, key: key}
		c, stored, err := s.idem.acquire(r.Context(), sc, fingerprint(r, body))
		if err != nil {
			if errors.Is(err, errKeyInUse) {
				w.Header().Set("Retry-After", "1")
			}
			s.writeError(w, r, err)
			return
		}
		if stored != nil {
			for name, value := range stored.headers {
				w.Header().Set(name, value)
			}
			w.Header().Set(headerReplayed, "true")
			w.WriteHeader(stored.status)
			_, _ = w.Write(stored.body)
			return
		}

		// The handler runs under the claim: renew its lease while it runs,
		// and give the key up if it panics or fails with a 5xx.
		ri.idempotencyKey = fmt.Sprintf("%x/%s/%s/%s", tokenHash[:8], r.Method, r.URL.Path, key)
		bg := context.WithoutCancel(r.Context())
		stop := s.renewWhileRunning(bg, c)
		rec := &bufferedWriter{header: w.Header()}
		completed := false
		defer func() {
			stop()
			if !completed {
				if err := s.idem.release(bg, c); err != nil {
					s.logger().ErrorContext(r.Context(), "releasing idempotency key", "err", err)
				}
			}
		}()
		next.ServeHTTP(rec, r)

		status := rec.code()
		if status < 500 {
			resp := storedResponse{status: status, headers: map[string]string{}, body: rec.body.Bytes()}
			for _, name := range replayedHeaders {
				if v := w.Header().Get(name); v != "" {
					resp.headers[name] = v
				}
			}
			if err := s.idem.complete(bg, c, resp); err != nil {
				// The command ran; its response still goes out. A retry
				// with the key finds it in progress until the lease
				// expires, then runs again (and the command's event ids,
				// derived from the key, keep its events from doubling).
				s.logger().ErrorContext(r.Context(), "storing idempotent response", "err", err)
			}
			completed = true
		}
		w.WriteHeader(status)
		_, _ = w.Write(rec.body.Bytes())
	})
}

// renewWhileRunning renews c's lease every third of the lease until the
// returned stop is called.
func (s *Server) renewWhileRunning(ctx context.Context, c *claim) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(s.idem.lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := s.idem.renew(ctx, c); err != nil {
					s.logger().WarnContext(ctx, "renewing idempotency key lease", "err", err)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// bufferedWriter holds a handler's response so that it can be stored
// before it is sent. Headers go straight to the real writer's map.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *bufferedWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// idempotencyKey returns the request's Idempotency-Key, scoped like the
// stored key (token, method, path), for eventstore.ExecuteOptions's
// IdempotencyKey: a command re-run under the same key (after a crash lost
// its stored response) then derives the same event ids, and the store
// appends nothing twice. Empty without a key.
func idempotencyKey(ctx context.Context) string {
	return info(ctx).idempotencyKey
}
