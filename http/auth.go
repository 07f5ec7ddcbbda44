package http

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
)

// tokenEntry is one configured bearer token.
type tokenEntry struct {
	secret []byte
	role   Role
}

// authenticate returns the role of r's bearer token, comparing it with every
// configured token in constant time (there are a handful, see tokenRole), so
// that response timing tells nothing about how close a guess was.
func (s *Server) authenticate(r *http.Request) (token string, role Role, ok bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", "", false
	}
	token = strings.TrimSpace(token)
	role, ok = s.tokenRole(token)
	return token, role, ok
}

// tokenRole returns the role of a configured token, comparing token with
// every configured one in constant time.
func (s *Server) tokenRole(token string) (role Role, ok bool) {
	if token == "" {
		return "", false
	}
	for _, t := range s.tokens {
		if subtle.ConstantTimeCompare(t.secret, []byte(token)) == 1 {
			role, ok = t.role, true
		}
	}
	return role, ok
}

// authorize answers 401 unauthorized to a request without a known bearer
// token and 403 forbidden to one whose role rt does not admit; otherwise it
// records the role in the request's info and calls next.
func (s *Server) authorize(rt *route, next http.Handler) http.Handler {
	return s.authorizeWith(rt, s.authenticate, `Bearer realm="subsd"`, next)
}

// authorizeWith is authorize with the given authentication and the
// WWW-Authenticate challenge of its 401.
func (s *Server) authorizeWith(rt *route, authenticate func(*http.Request) (string, Role, bool), challenge string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, role, ok := authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", challenge)
			s.writeError(w, r, errUnauthorized)
			return
		}
		ri := info(r.Context())
		ri.token, ri.role = token, role
		if !rt.allows(role, r) {
			s.writeError(w, r, errForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// allows reports whether role may call rt with r's query parameters.
func (rt *route) allows(role Role, r *http.Request) bool {
	if rt.public {
		return true
	}
	if !slices.Contains(rt.roles, role) {
		return false
	}
	for param, roles := range rt.queryRoles {
		if r.URL.Query().Has(param) && !slices.Contains(roles, role) {
			return false
		}
	}
	return true
}

// roleFrom returns the role of the request's token, or "" on a public route.
func roleFrom(ctx context.Context) Role {
	return info(ctx).role
}

// actorFrom returns who the request acts as, for event metadata: the
// token's role ("admin"), or "anonymous" on a public route.
func actorFrom(ctx context.Context) string {
	if role := roleFrom(ctx); role != "" {
		return string(role)
	}
	return "anonymous"
}
