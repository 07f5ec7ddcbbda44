// Package stripetest runs the real stripe-mock for tests, records what is
// sent to it, and signs webhook payloads the way Stripe does.
//
// stripe-mock (github.com/stripe/stripe-mock, installed by scripts/test
// into .data/bin) answers every endpoint of Stripe's OpenAPI spec with
// fixture data after validating the request. It keeps no state: it does not
// honour idempotency keys (each request gets a fresh id), never declines,
// and answers a confirmed PaymentIntent with requires_payment_method. Tests
// therefore read what the service sent (Mock.Requests: the same idempotency
// key is what makes real Stripe return the same object) and drive outcomes
// with signed webhook payloads (SignedPayload).
//
// A test that cannot find or start the binary fails, saying how to install
// it: a silently skipped payment test is a test that never runs.
package stripetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
)

// Version is the stripe-mock version scripts/test installs.
const Version = "v0.203.0"

// SecretKey and WebhookSecret are test credentials stripe-mock accepts and
// SignedPayload signs with.
const (
	SecretKey     = "sk_test_subsd"
	WebhookSecret = "whsec_subsd_test"
)

// Mock is a running stripe-mock behind a recording proxy.
type Mock struct {
	// URL is the proxy's base URL: give it to the client as its API base.
	URL string

	mu       sync.Mutex
	requests []Request
}

// Request is one request the proxy passed on.
type Request struct {
	Method string
	// Path is the URL path, such as /v1/payment_intents.
	Path string
	// IdempotencyKey is the Idempotency-Key header.
	IdempotencyKey string
	// Form is the decoded form body.
	Form url.Values
	// Status is stripe-mock's answer.
	Status int
}

// Requests returns the requests sent so far to method and path ("" matches
// any), in order.
func (m *Mock) Requests(method, path string) []Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Request
	for _, r := range m.requests {
		if (method == "" || r.Method == method) && (path == "" || r.Path == path) {
			out = append(out, r)
		}
	}
	return out
}

var (
	sharedOnce sync.Once
	shared     *process
	sharedErr  error
)

// Start returns a recording proxy in front of the test binary's shared
// stripe-mock, which it starts on first use (one per test package: the
// spec takes a second or two to load). The proxy is the test's own, so its
// Requests are the test's own; it closes when the test ends. Call Stop from
// TestMain after m.Run to end the shared process; on Linux it also ends
// with the test binary without it.
func Start(tb testing.TB) *Mock {
	tb.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startProcess() })
	if sharedErr != nil {
		tb.Fatalf("stripetest: %v", sharedErr)
	}
	target, _ := url.Parse(shared.url)
	m := &Mock{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		m.mu.Lock()
		m.requests = append(m.requests, Request{Method: r.Method, Path: r.URL.Path,
			IdempotencyKey: r.Header.Get("Idempotency-Key"), Form: form, Status: rec.status})
		m.mu.Unlock()
	}))
	tb.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

// Stop ends the shared stripe-mock, if one was started.
func Stop() {
	if shared != nil {
		shared.stop()
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

type process struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// startProcess starts stripe-mock on ports the system picks and waits for
// it to say where it listens.
func startProcess() (*process, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = procAttr()
	started := make(chan error, 1)
	go func() {
		if lockThread {
			// Never unlocked: the thread lives as long as the process, and
			// Pdeathsig follows the thread (see procAttr).
			runtime.LockOSThread()
		}
		started <- cmd.Start()
		if lockThread {
			select {}
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	var tail bytes.Buffer
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			} else if tail.Len() < 4096 {
				tail.WriteString(line + "\n")
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case addr := <-found:
		p.url = "http://" + addr
	case <-p.done:
		return nil, fmt.Errorf("%s exited before listening: %s", bin, tail.String())
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s did not listen within 60 s", bin)
	}
	// It prints the address before the server takes requests; wait until
	// it answers.
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Get(p.url + "/v1/balance")
		if err == nil {
			resp.Body.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("stripe-mock at %s does not answer: %w", p.url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Binary finds the stripe-mock binary: $STRIPE_MOCK_BIN, else .data/bin
// of the repository scripts/test installs it into, else PATH, else the Go
// bin directory (go install's target). It errs, saying how to install it,
// when there is none.
func Binary() (string, error) {
	if b := os.Getenv("STRIPE_MOCK_BIN"); b != "" {
		return b, nil
	}
	var candidates []string
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(dir, ".data", "bin", "stripe-mock"))
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if b, err := exec.LookPath("stripe-mock"); err == nil {
		candidates = append(candidates, b)
	}
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		candidates = append(candidates, filepath.Join(gobin, "stripe-mock"))
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		candidates = append(candidates, filepath.Join(dir, "bin", "stripe-mock"))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && !fi.IsDir() {
			return c, nil
		}
	}
	return "", errors.New("stripe-mock is not installed: run scripts/test, or go install github.com/stripe/stripe-mock@" + Version +
		" (or set STRIPE_MOCK_BIN to its path)")
}

// SignedPayload marshals event as a webhook body and signs it with secret
// at time at (zero: now), returning the body and its Stripe-Signature
// header: what Stripe would POST.
func SignedPayload(tb testing.TB, event any, secret string, at time.Time) ([]byte, string) {
	tb.Helper()
	body, err := json.Marshal(event)
	if err != nil {
		tb.Fatalf("stripetest: marshaling a webhook event: %v", err)
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return body, signed.Header
}

// Event returns a webhook event of type typ about object, shaped as Stripe
// sends it (API version stripe-go's).
func Event(id, typ string, object map[string]any) map[string]any {
	return map[string]any{
		"id": id, "object": "event", "type": typ, "api_version": "2023-10-16",
		"created": time.Now().Unix(), "livemode": false, "pending_webhooks": 1,
		"data": map[string]any{"object": object},
	}
}

// PaymentIntent returns a PaymentIntent object for Event.
func PaymentIntent(id, status string, amount int64, currency string, metadata map[string]string) map[string]any {
	return map[string]any{
		"id": id, "object": "payment_intent", "status": status, "amount": amount,
		"currency": strings.ToLower(currency), "metadata": metadata,
	}
}

// WithDecline adds a last_payment_error to a PaymentIntent object.
func WithDecline(pi map[string]any, code, declineCode, message string) map[string]any {
	pi["last_payment_error"] = map[string]any{"type": "card_error", "code": code, "decline_code": declineCode, "message": message}
	return pi
}
