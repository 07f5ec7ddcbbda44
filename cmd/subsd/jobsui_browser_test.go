package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/workers"
)

// TestJobsUIInChromium: River's UI at /admin/jobs works in a real browser,
// not only over HTTP. Headless Chromium, sending an admin's bearer token
// with every request (the page and the API calls its JavaScript makes),
// loads the single-page app, which renders the list of scheduled jobs with
// the job the test inserted; a tab without credentials gets 401 and no
// jobs. Without a Chromium (CHROMIUM_PATH, or chromium, chromium-browser,
// google-chrome on PATH) the test skips, unless SUBSD_REQUIRE_CHROMIUM=1
// (scripts/test sets it, after installing one), when it fails.
func TestJobsUIInChromium(t *testing.T) {
	t.Parallel()
	browser := findChromium(t)
	s := startAPI(t)

	jobID := strconv.FormatInt(s.scheduleJob(t), 10)
	pageURL := s.baseURL + "/admin/jobs/jobs?state=scheduled"

	// A hung browser must not hang the test run.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	output := &logBuffer{}
	// The machine may have no network: nothing must make Chromium reach
	// out (to Google's update, sync and metrics services) on its own.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox, // as root, or in a container, the sandbox fails
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc() // stops the browser and waits for it, before TempDir is removed
	tab, cancelTab := chromedp.NewContext(allocCtx)
	defer cancelTab()
	defer func() {
		if t.Failed() {
			t.Logf("chromium's output:\n%s", output)
		}
	}()

	// The token goes with every request of the tab: the page itself and
	// the API calls its JavaScript makes.
	_, err := chromedp.Call(tab, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + adminToken},
	})
	require.NoError(t, err)
	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(pageURL))
	require.NoError(t, err)
	require.Equal(t, int64(http.StatusOK), resp.Status, "GET %s", pageURL)
	require.Equal(t, "text/html", resp.MimeType)
	// The job's row, which the app renders from its API's answer, links to
	// the job's page and is labelled with its kind.
	row := chromedp.CSS(`a[href="/admin/jobs/jobs/` + jobID + `"]`)
	require.NoError(t, chromedp.Do(tab, chromedp.WaitVisible(row)), "the job's row never showed")
	kind, err := chromedp.Run(tab, chromedp.Text(row))
	require.NoError(t, err)
	require.Equal(t, workers.KindSendEmail, strings.TrimSpace(kind))

	// Another tab of the same browser, without the token, is a visitor
	// who is asked for credentials and dismisses the prompt. (Headless
	// Chromium has no prompt: unless the tab answers the challenge, through
	// the Fetch domain, the navigation fails with ERR_INVALID_AUTH_CREDENTIALS.)
	anon, cancelAnon := chromedp.NewContext(tab)
	defer cancelAnon()
	paused := chromedp.Events(anon, fetch.RequestPaused)
	challenges := chromedp.Events(anon, fetch.AuthRequired)
	schemes := make(chan string, 1)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return // the tab is gone
			}
			_, _ = chromedp.Call(anon, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		for ev, err := range challenges {
			if err != nil {
				return
			}
			select {
			case schemes <- ev.AuthChallenge.Scheme:
			default:
			}
			_, _ = chromedp.Call(anon, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{
				RequestID:             ev.RequestID,
				AuthChallengeResponse: &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth},
			})
		}
	}()
	_, err = chromedp.Call(anon, fetch.Enable, fetch.EnableParams{HandleAuthRequests: new(true)})
	require.NoError(t, err)
	resp, err = chromedp.Run(anon, chromedp.NavigateResponse(pageURL))
	require.NoError(t, err)
	require.Equal(t, int64(http.StatusUnauthorized), resp.Status, "GET %s without credentials", pageURL)
	select {
	case scheme := <-schemes:
		require.Equal(t, "basic", strings.ToLower(scheme), "the browser is asked for HTTP Basic credentials")
	default:
		t.Fatal("the browser was not asked for credentials")
	}
	body, err := chromedp.Run(anon, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	require.Contains(t, body, `"code":"unauthorized"`)
	require.NotContains(t, body, workers.KindSendEmail)
}

// findChromium returns the Chromium to run: $CHROMIUM_PATH when set, else
// the first of the usual names on PATH (as scripts/lib.sh's find_chromium).
// Without one it skips the test, or fails it when SUBSD_REQUIRE_CHROMIUM=1.
func findChromium(t *testing.T) string {
	t.Helper()
	var msg string
	if p := os.Getenv("CHROMIUM_PATH"); p != "" {
		path, err := exec.LookPath(p)
		if err == nil {
			return path
		}
		msg = fmt.Sprintf("CHROMIUM_PATH=%s is not a Chromium to run: %v", p, err)
	} else {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
			if path, err := exec.LookPath(name); err == nil {
				return path
			}
		}
		msg = "no Chromium: none of chromium, chromium-browser, google-chrome is on PATH and CHROMIUM_PATH is not set (scripts/test installs one)"
	}
	if os.Getenv("SUBSD_REQUIRE_CHROMIUM") == "1" {
		t.Fatal(msg + "; SUBSD_REQUIRE_CHROMIUM=1 makes this a failure")
	}
	t.Skip(msg)
	return ""
}
