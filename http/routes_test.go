package http

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Tokens of the role matrix, one per role.
var matrixTokens = map[string]Role{
	"admin-token-0123456789":     RoleAdmin,
	"support-token-0123456789":   RoleSupport,
	"scheduler-token-0123456789": RoleScheduler,
	"auditor-token-0123456789":   RoleAuditor,
}

func tokenOf(role Role) string {
	for token, r := range matrixTokens {
		if r == role {
			return token
		}
	}
	panic("no token for " + role)
}

var templateParam = regexp.MustCompile(`\{[^}]+\}`)

// concretePath fills a route template's parameters: {id} → test_id.
func concretePath(template string) string {
	return templateParam.ReplaceAllStringFunc(template, func(p string) string {
		return "test_" + strings.Trim(p, "{}")
	})
}

// matrixServer is a Server without dependencies: handlers that need them
// may fail (even with 500), which the matrix tolerates; it checks only who
// gets past authentication and authorisation.
func matrixServer() *Server {
	return &Server{Tokens: matrixTokens, TestClock: true, RateLimit: RateLimit{PerSecond: -1}}
}

// TestRoleMatrix calls every route of the table as every role, without a
// token and with an unknown token, and checks 401 and 403 exactly: the
// route's roles get past authorisation (whatever the handler answers then),
// every other role gets 403, and a request without a known token gets 401.
// Public routes answer without a token, and ignore a bad one.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	s := matrixServer()
	h := s.Handler()

	type caller struct {
		name  string
		token string
		role  Role
	}
	callers := []caller{{name: "none"}, {name: "unknown", token: "not-a-configured-token-42"}}
	for _, role := range Roles {
		callers = append(callers, caller{name: string(role), token: tokenOf(role), role: role})
	}

	for _, rt := range s.routes() {
		for _, c := range callers {
			t.Run(rt.method+" "+rt.path+" as "+c.name, func(t *testing.T) {
				t.Parallel()
				req := httptest.NewRequest(rt.method, concretePath(rt.path), strings.NewReader("{}"))
				if c.token != "" {
					req.Header.Set("Authorization", "Bearer "+c.token)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)

				switch {
				case rt.public:
					require.NotContains(t, []int{401, 403, 405}, rec.Code, rec.Body.String())
					require.NotContains(t, rec.Body.String(), errNotFound.Message)
				case c.role == "":
					require.Equal(t, http.StatusUnauthorized, rec.Code, rec.Body.String())
					require.JSONEq(t, `{"error":{"code":"unauthorized","message":"`+errUnauthorized.Message+`"}}`, rec.Body.String())
					require.Equal(t, `Bearer realm="subsd"`, rec.Header().Get("WWW-Authenticate"))
				case slices.Contains(rt.roles, c.role):
					require.NotContains(t, []int{401, 403, 405}, rec.Code, rec.Body.String())
					// The handler may answer 404 for the made-up id, but
					// routing must have found the route.
					require.NotContains(t, rec.Body.String(), errNotFound.Message)
				default:
					require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())
					require.JSONEq(t, `{"error":{"code":"forbidden","message":"`+errForbidden.Message+`"}}`, rec.Body.String())
				}
			})
		}
	}
}

// TestRoleMatrixAPITable pins the table to API.md's role table: admin may
// call everything; support no settings, projections, erasure, scheduler,
// events or history; the scheduler only POST /v1/scheduler/*; the auditor
// every GET and no write.
func TestRoleMatrixAPITable(t *testing.T) {
	t.Parallel()
	s := matrixServer()
	supportDenied := regexp.MustCompile(`^/v1/(settings|projections|scheduler|events|streams|test-clock)|/personal-data$|/history$|^/metrics$`)
	for _, rt := range s.routes() {
		if rt.public {
			continue
		}
		name := rt.method + " " + rt.path
		require.Contains(t, rt.roles, RoleAdmin, name)
		require.Equal(t, !supportDenied.MatchString(rt.path), slices.Contains(rt.roles, RoleSupport), name)
		require.Equal(t, strings.HasPrefix(rt.path, "/v1/scheduler/"), slices.Contains(rt.roles, RoleScheduler), name)
		require.Equal(t, rt.method == http.MethodGet, slices.Contains(rt.roles, RoleAuditor), name)
	}
}

// TestAsOfNarrowsRoles checks the one query-dependent rule: the customer
// detail page as of a past time is for admins and auditors only.
func TestAsOfNarrowsRoles(t *testing.T) {
	t.Parallel()
	h := matrixServer().Handler()
	for role, want := range map[Role]bool{RoleAdmin: true, RoleAuditor: true, RoleSupport: false, RoleScheduler: false} {
		req := httptest.NewRequest(http.MethodGet, "/v1/customers/cus_1?as_of=2026-01-01T00:00:00Z", nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf(role))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if want {
			require.NotContains(t, []int{401, 403}, rec.Code, role)
		} else {
			require.Equal(t, http.StatusForbidden, rec.Code, role)
		}
	}
}

// TestAuthOrder checks the order of the checks: an unknown path is 404 and
// a known path with another method 405, whoever asks; then 401, then 403.
func TestAuthOrder(t *testing.T) {
	t.Parallel()
	h := matrixServer().Handler()
	for _, tt := range []struct {
		method, path, token string
		want                int
	}{
		{http.MethodGet, "/v1/nope", "", 404},
		{http.MethodGet, "/v1/nope", tokenOf(RoleAdmin), 404},
		{http.MethodPut, "/v1/customers", "", 405},
		{http.MethodPut, "/v1/customers", tokenOf(RoleScheduler), 405},
		{http.MethodGet, "/v1/settings/email", "", 401},
		{http.MethodGet, "/v1/settings/email", "wrong-token-0123456789", 401},
		{http.MethodGet, "/v1/settings/email", tokenOf(RoleSupport), 403},
	} {
		req := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, tt.want, rec.Code, "%s %s", tt.method, tt.path)
	}
}

func TestMethodNotAllowedSaysWhatIsAllowed(t *testing.T) {
	t.Parallel()
	h := matrixServer().Handler()
	for path, want := range map[string]string{
		"/v1/customers":                       "GET, POST",
		"/v1/customers/cus_1":                 "GET, PATCH",
		"/v1/subscriptions/sub_1/products/p1": "PATCH, DELETE",
		"/v1/settings/email":                  "GET, PUT",
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("TRACE", path, nil))
		require.Equal(t, http.StatusMethodNotAllowed, rec.Code, path)
		require.Equal(t, want, rec.Header().Get("Allow"), path)
	}
}

func TestAuthorizationHeaderForms(t *testing.T) {
	t.Parallel()
	h := matrixServer().Handler()
	admin := tokenOf(RoleAdmin)
	for header, want := range map[string]int{
		"Bearer " + admin:        200,
		"bearer " + admin:        200,
		"BEARER  " + admin + " ": 200,
		"Basic " + admin:         401,
		admin:                    401,
		"Bearer":                 401,
		"Bearer ":                401,
		"Bearer " + admin + "x":  401,
		"Bearer " + admin[:10]:   401,
	} {
		req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
		req.Header.Set("Authorization", header)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, want, rec.Code, "%q", header)
	}
}

func TestTestClockRoutesAre404WithoutTestClock(t *testing.T) {
	t.Parallel()
	s := matrixServer()
	s.TestClock = false
	h := s.Handler()
	for _, rt := range s.routes() {
		if !rt.testClock {
			continue
		}
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+tokenOf(RoleAdmin))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusNotFound, rec.Code)
	}
}

func TestRoutesAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, rt := range matrixServer().routes() {
		key := rt.method + " " + rt.path
		require.False(t, seen[key], "duplicate route %s", key)
		seen[key] = true
		require.NotNil(t, rt.handler, key)
		require.NotEmpty(t, rt.summary, key)
		require.True(t, rt.public != (len(rt.roles) > 0), "%s: public xor roles", key)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := matrixServer().Handler()

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("X-Request-Id", "client-chosen-id-1")
	h.ServeHTTP(rec, req)
	require.Equal(t, "client-chosen-id-1", rec.Header().Get("X-Request-Id"))

	for _, bad := range []string{"", "has space", strings.Repeat("x", 129), "tab\there"} {
		rec = httptest.NewRecorder()
		req = httptest.NewRequest(http.MethodGet, "/nope", nil)
		req.Header.Set("X-Request-Id", bad)
		h.ServeHTTP(rec, req)
		require.Regexp(t, `^req_[a-z2-7]{26}$`, rec.Header().Get("X-Request-Id"), "%q", bad)
	}
}

func TestNotImplementedNamesTheRoute(t *testing.T) {
	t.Parallel()
	// A route of its own: which routes of the table are still to come
	// changes from release to release.
	s := matrixServer()
	s.Handler()
	rt := &route{method: http.MethodGet, path: "/v1/later/{id}", roles: []Role{RoleAuditor}, handler: s.notImplemented}
	h := s.observe(s.routeHandler(rt))
	req := httptest.NewRequest(http.MethodGet, "/v1/later/cus_1", nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf(RoleAuditor))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusNotImplemented, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	require.JSONEq(t, `{"error":{"code":"not_implemented","message":"GET /v1/later/{id} is not implemented yet"}}`, string(body))
}

func TestOperationsOnly(t *testing.T) {
	t.Parallel()
	s := matrixServer()
	s.OperationsOnly = true
	h := s.Handler()
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/openapi.json": 404, "/v1/customers": 404} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf(RoleAdmin))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, want, rec.Code, path)
	}
}
