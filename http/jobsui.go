package http

import (
	"net/http"
	"strings"
)

// JobsUIPath is where River's web UI is mounted (Server.JobsUI).
const JobsUIPath = "/admin/jobs"

// jobsUIRoute is the UI's row for the role check: admins, and auditors for
// reading (API.md: auditors may make every GET). It is not in the routing
// table, which is the JSON API that the OpenAPI document describes; the UI
// is River's own pages and their API.
var jobsUIRoute = route{path: JobsUIPath + "/", roles: adminAuditor}

// jobsUI serves Server.JobsUI to admins, and its GETs to auditors (River's
// UI changes jobs and queues with POST, PUT, PATCH and DELETE). Besides the
// API's bearer token it
// takes HTTP Basic authentication whose password is an admin token (any
// user name), because a browser cannot send a bearer token when it opens
// a page; a request without credentials gets the Basic challenge, so the
// browser asks for them. The token's rate limit applies as on the API.
func (s *Server) jobsUI() http.Handler {
	readOnlyForAuditors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if roleFrom(r.Context()) != RoleAdmin && r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.writeError(w, r, errForbidden)
			return
		}
		s.JobsUI.ServeHTTP(w, r)
	})
	authorized := s.authorizeWith(&jobsUIRoute, s.authenticateBearerOrBasic, `Basic realm="subsd jobs", charset="UTF-8"`,
		s.rateLimit(readOnlyForAuditors))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).route = &jobsUIRoute
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		// River's UI answers its own paths; a path that merely starts
		// with the prefix (/admin/jobsfoo) is not one of them.
		if r.URL.Path != JobsUIPath && !strings.HasPrefix(r.URL.Path, JobsUIPath+"/") {
			s.writeError(w, r, errNotFound)
			return
		}
		authorized.ServeHTTP(w, r)
	})
}

// authenticateBearerOrBasic is authenticate, or else authenticateBasic.
func (s *Server) authenticateBearerOrBasic(r *http.Request) (string, Role, bool) {
	if token, role, ok := s.authenticate(r); ok {
		return token, role, ok
	}
	return s.authenticateBasic(r)
}

// authenticateBasic is authenticate for HTTP Basic credentials whose
// password is a configured token.
func (s *Server) authenticateBasic(r *http.Request) (token string, role Role, ok bool) {
	_, password, found := r.BasicAuth()
	if !found {
		return "", "", false
	}
	role, ok = s.tokenRole(password)
	return password, role, ok
}
