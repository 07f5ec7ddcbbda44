package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/workers"
)

// TestJobsUI: River's UI is mounted at /admin/jobs for admins (auditors may
// read it and change nothing), with
// the bearer token or HTTP Basic (the token as password, for a browser);
// without credentials it asks for Basic; its API lists the service's jobs.
func TestJobsUI(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	jobID := s.scheduleJob(t)

	get := func(path string, auth func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.baseURL+path, nil)
		require.NoError(t, err)
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(body)
	}
	bearer := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	}
	basic := func(token string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth("admin", token) }
	}

	resp, body := get("/admin/jobs", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	require.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")
	require.Contains(t, body, `"code":"unauthorized"`)

	for _, token := range []string{supportToken, schedulerToken} {
		resp, body = get("/admin/jobs", bearer(token))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
		resp, body = get("/admin/jobs/api/jobs", basic(token))
		require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	}
	// Auditors read, and change nothing.
	resp, body = get("/admin/jobs/api/jobs?state=scheduled", bearer(auditorToken))
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.baseURL+"/admin/jobs/api/jobs/cancel",
		strings.NewReader(fmt.Sprintf(`{"job_ids":["%d"]}`, jobID)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+auditorToken)
	req.Header.Set("Content-Type", "application/json")
	cancel, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	cancel.Body.Close()
	require.Equal(t, http.StatusForbidden, cancel.StatusCode)

	resp, _ = get("/admin/jobs", basic("not-a-token-at-all"))
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = get("/admin/jobsfoo", bearer(adminToken))
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	for _, auth := range []func(*http.Request){bearer(adminToken), basic(adminToken)} {
		resp, body = get("/admin/jobs/", auth)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"), resp.Header.Get("Content-Type"))
		require.Contains(t, body, "/admin/jobs", "the UI's page knows its prefix")

		resp, body = get("/admin/jobs/api/jobs?state=scheduled&limit=100", auth)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var list struct {
			Data []struct {
				ID   int64  `json:"id"`
				Kind string `json:"kind"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &list), body)
		var kinds []string
		for _, j := range list.Data {
			if j.ID == jobID {
				kinds = append(kinds, j.Kind)
			}
		}
		require.Equal(t, []string{workers.KindSendEmail}, kinds, body)
	}
}

// scheduleJob inserts a send_email job that no worker takes yet (it is
// scheduled an hour from now) and returns its id.
func (s *apiServer) scheduleJob(t *testing.T) int64 {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), s.dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	client, err := workers.NewClient(pool, workers.ClientConfig{})
	require.NoError(t, err)
	inserted, err := client.Insert(t.Context(), workers.SendEmailArgs{EmailID: "eml_0123456789abcdef0123456789abcdef"},
		&river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	return inserted.Job.ID
}
