package http

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
)

// fakeWaiter is a read model that has caught up with reached.
type fakeWaiter struct{ reached eventstore.Position }

func (f fakeWaiter) WaitFor(ctx context.Context, pos eventstore.Position) error {
	if !f.reached.Less(pos) {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func TestWriteCommandResult(t *testing.T) {
	t.Parallel()
	s := &Server{}
	rec := httptest.NewRecorder()
	pos := eventstore.Position{Major: 3, Minor: 2}
	s.writeCommandResult(rec, httptest.NewRequest(http.MethodPost, "/", nil), http.StatusCreated, map[string]string{"id": "cus_1"}, pos)
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, pos.Token(), rec.Header().Get("X-Event-Position"))
	got, err := eventstore.ParseToken(rec.Header().Get("X-Event-Position"))
	require.NoError(t, err)
	require.Equal(t, pos, got)
	require.JSONEq(t, `{"id":"cus_1"}`, rec.Body.String())

	rec = httptest.NewRecorder()
	s.writeCommandResult(rec, httptest.NewRequest(http.MethodPost, "/", nil), http.StatusOK, map[string]string{}, eventstore.Position{})
	require.Empty(t, rec.Header().Get("X-Event-Position"), "nothing appended, no position")
}

func TestWaitMinPosition(t *testing.T) {
	t.Parallel()
	reached := eventstore.Position{Major: 10, Minor: 0}
	s := &Server{waiter: fakeWaiter{reached: reached}, minPositionWait: 200 * time.Millisecond}
	get := func(header string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if header != "" {
			r.Header.Set("X-Min-Position", header)
		}
		return r
	}

	require.NoError(t, s.waitMinPosition(get("")))
	require.NoError(t, s.waitMinPosition(get(reached.Token())))
	require.NoError(t, s.waitMinPosition(get(eventstore.Position{Major: 9, Minor: 5}.Token())))

	for _, garbage := range []string{"abc", "-1", "1.5", "1/2/3", "99999999999999999999999"} {
		err := s.waitMinPosition(get(garbage))
		var de *domain.Error
		require.ErrorAs(t, err, &de, garbage)
		require.Equal(t, "invalid_header", de.Code)
		require.Equal(t, "X-Min-Position", de.Field)
		require.Equal(t, http.StatusBadRequest, statusOf(de.Kind))
	}

	start := time.Now()
	err := s.waitMinPosition(get(eventstore.Position{Major: 11}.Token()))
	require.ErrorIs(t, err, errProjectionLagging)
	require.InDelta(t, 0.2, time.Since(start).Seconds(), 0.5)
	rec := httptest.NewRecorder()
	s.writeError(rec, get(""), err)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Contains(t, rec.Body.String(), `"code":"projection_lagging"`)
}

func TestIfMatch(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]uint64{`3`: 3, `"3"`: 3, `W/"3"`: 3, ` 12 `: 12, `"0"`: 0} {
		r := httptest.NewRequest(http.MethodPatch, "/", nil)
		r.Header.Set("If-Match", header)
		v, err := ifMatch(r)
		require.NoError(t, err, header)
		require.Equal(t, want, *v, header)
	}
	v, err := ifMatch(httptest.NewRequest(http.MethodPatch, "/", nil))
	require.NoError(t, err)
	require.Nil(t, v)
	for _, bad := range []string{`*`, `"a"`, `-1`, `"3`, `W/3x`} {
		r := httptest.NewRequest(http.MethodPatch, "/", nil)
		r.Header.Set("If-Match", bad)
		_, err := ifMatch(r)
		var de *domain.Error
		require.ErrorAs(t, err, &de, bad)
		require.Equal(t, "If-Match", de.Field)
	}
}

func TestVersionMismatchIs412(t *testing.T) {
	t.Parallel()
	s := &Server{}
	rec := httptest.NewRecorder()
	s.writeError(rec, httptest.NewRequest(http.MethodPatch, "/", nil), eventstore.ErrVersionMismatch)
	require.Equal(t, http.StatusPreconditionFailed, rec.Code)
	require.JSONEq(t, `{"error":{"code":"version_mismatch","message":"`+errVersionMismatch.Message+`"}}`, rec.Body.String())
}
