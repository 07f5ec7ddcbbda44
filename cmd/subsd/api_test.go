package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// The tokens of the API tests, one per role.
const (
	supportToken   = "support-token-0123456789"
	schedulerToken = "scheduler-token-0123456789"
)

// apiServer is a running `subsd serve` with a token per role, and the
// database it runs on.
type apiServer struct {
	*subsd
	dbURL string
}

// startAPI runs `subsd serve` on a fresh database and waits until it is
// ready.
func startAPI(t *testing.T) *apiServer {
	t.Helper()
	return startAPIWith(t, map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t),
		"API_TOKENS": "admin:" + adminToken + ",support:" + supportToken + ",auditor:" + auditorToken +
			",scheduler:" + schedulerToken,
		// These tests send hundreds of requests in a second; the rate
		// limiter has tests of its own.
		"RATE_LIMIT_RPS": "0",
	})
}

// startAPIWith runs `subsd serve` with vars (DATABASE_URL among them) and
// waits until it is ready.
func startAPIWith(t *testing.T, vars map[string]string) *apiServer {
	t.Helper()
	s := startServe(t, vars)
	require.Eventually(t, func() bool {
		status, _ := s.get(t, "/readyz")
		return status == http.StatusOK
	}, 60*time.Second, 20*time.Millisecond, "never ready; logs:\n%s", s.logs)
	return &apiServer{subsd: s, dbURL: vars["DATABASE_URL"]}
}

// response is one answer of the API.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// call is one request: Body is marshalled as JSON unless it is a string
// (sent as it is) or nil (no body).
type call struct {
	Method, Path string
	Token        string
	Body         any
	Header       map[string]string
}

func (s *apiServer) do(t *testing.T, c call) response {
	t.Helper()
	var body io.Reader
	switch b := c.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), c.Method, s.baseURL+c.Path, body)
	require.NoError(t, err)
	token := c.Token
	if token == "" {
		token = adminToken
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.Header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &r.body), "%s %s answered %s", c.Method, c.Path, raw)
	}
	return r
}

// ok requires status want and returns the body.
func (r response) ok(t *testing.T, want int) map[string]any {
	t.Helper()
	require.Equal(t, want, r.status, "body: %s", r.raw)
	return r.body
}

// fails requires an error answer with status, code and (when not "") field.
func (r response) fails(t *testing.T, status int, code, field string) {
	t.Helper()
	require.Equal(t, status, r.status, "body: %s", r.raw)
	e, ok := r.body["error"].(map[string]any)
	require.True(t, ok, "an error body: %s", r.raw)
	require.Equal(t, code, e["code"], "body: %s", r.raw)
	require.NotEmpty(t, e["message"])
	if field != "" {
		require.Equal(t, field, e["field"], "body: %s", r.raw)
	}
}

// at returns the value at a dotted path ("subscriptions.0.products.1.name")
// of a decoded JSON document.
func at(t *testing.T, doc any, path string) any {
	t.Helper()
	v := doc
	for _, part := range strings.Split(path, ".") {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			v, ok = c[part]
			require.True(t, ok, "no %q in %s (path %s)", part, jsonString(doc), path)
		case []any:
			i, err := strconv.Atoi(part)
			require.NoError(t, err, "path %s", path)
			require.Less(t, i, len(c), "path %s in %s", path, jsonString(doc))
			v = c[i]
		default:
			t.Fatalf("path %s: %q of a %T in %s", path, part, v, jsonString(doc))
		}
	}
	return v
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// money is a Money as decoded JSON holds it (numbers are float64), which
// also marshals as the API expects.
func money(amount int64) map[string]any {
	return map[string]any{"amount": float64(amount), "currency": "EUR"}
}

func num(n int) float64 { return float64(n) }

// TestAPIDashboard drives the API as the dashboard does, through the real
// `run`, and checks the customer detail page section by section.
func TestAPIDashboard(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	amsterdam, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	today := domain.DateIn(time.Now(), amsterdam)

	// --- Customer: create, read back, edit.
	created := s.do(t, call{Method: "POST", Path: "/v1/customers", Token: supportToken, Body: map[string]any{
		"first_name": "Ann", "last_name": "de Vries", "email": "ann@Example.com", "phone": "+31 6 1234 5678",
		"address": map[string]any{"street": "Keizersgracht 1", "zipcode": "1015 CJ", "city": "Amsterdam", "country": "nl"},
	}})
	cus := created.ok(t, http.StatusCreated)
	cusID := cus["id"].(string)
	require.True(t, strings.HasPrefix(cusID, "cus_"), cusID)
	require.Equal(t, "/v1/customers/"+cusID, created.header.Get("Location"))
	require.NotEmpty(t, created.header.Get("X-Event-Position"))
	require.Equal(t, `"1"`, created.header.Get("ETag"))
	require.Equal(t, num(1), cus["version"])
	require.Equal(t, map[string]any{
		"first_name": "Ann", "last_name": "de Vries", "email": "ann@example.com", "phone": "+31612345678",
		"address":          map[string]any{"street": "Keizersgracht 1", "zipcode": "1015 CJ", "city": "Amsterdam", "country": "NL"},
		"shipping_address": nil,
	}, pick(at(t, cus, "customer"), "first_name", "last_name", "email", "phone", "address", "shipping_address"))
	require.Equal(t, []any{}, cus["subscriptions"])
	require.Equal(t, []any{}, cus["orders"])

	got := s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID, Token: auditorToken,
		Header: map[string]string{"X-Min-Position": created.header.Get("X-Event-Position")}}).ok(t, http.StatusOK)
	require.Equal(t, cus, got, "the 201 body is the GET document")

	edited := s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{
		"last_name": "Jansen", "phone": nil,
		"shipping_address": map[string]any{"street": "Stationsplein 10", "zipcode": "3511 ED", "city": "Utrecht", "country": "NL"},
	}, Header: map[string]string{"If-Match": `"1"`}})
	doc := edited.ok(t, http.StatusOK)
	require.Equal(t, num(2), doc["version"])
	require.Equal(t, "Jansen", at(t, doc, "customer.last_name"))
	require.Nil(t, at(t, doc, "customer.phone"))
	require.Equal(t, "Utrecht", at(t, doc, "customer.shipping_address.city"))

	s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"last_name": "Bakker"},
		Header: map[string]string{"If-Match": "1"}}).fails(t, http.StatusPreconditionFailed, "version_mismatch", "")
	doc = s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"shipping_address": nil},
		Header: map[string]string{"If-Match": `W/"2"`}}).ok(t, http.StatusOK)
	require.Nil(t, at(t, doc, "customer.shipping_address"))
	require.Equal(t, num(3), doc["version"])
	// An edit that changes nothing appends nothing.
	same := s.do(t, call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"last_name": "Jansen"}})
	require.Equal(t, num(3), same.ok(t, http.StatusOK)["version"])

	s.do(t, call{Method: "GET", Path: "/v1/customers/cus_nobody"}).fails(t, http.StatusNotFound, "customer_not_found", "")
	s.do(t, call{Method: "PATCH", Path: "/v1/customers/cus_nobody", Body: map[string]any{"last_name": "X"}}).
		fails(t, http.StatusNotFound, "customer_not_found", "")

	// --- Subscription: created pending, first charge invoiced.
	subResp := s.do(t, call{Method: "POST", Path: "/v1/subscriptions", Token: supportToken, Body: map[string]any{
		"customer_id":     cusID,
		"plan":            map[string]any{"name": "Coffee club", "price": money(2500), "interval": map[string]any{"unit": "month", "count": 1}},
		"delivery_method": "delivery",
		"products": []any{
			map[string]any{"product_id": "beans", "name": "Coffee beans", "quantity": 2, "interval": map[string]any{"unit": "week", "count": 2}},
		},
	}})
	sub := subResp.ok(t, http.StatusCreated)
	subID := sub["id"].(string)
	require.True(t, strings.HasPrefix(subID, "sub_"), subID)
	require.Equal(t, "/v1/subscriptions/"+subID, subResp.header.Get("Location"))
	require.Equal(t, "pending", sub["status"])
	require.Equal(t, "Ann Jansen", sub["customer_name"])
	require.Equal(t, money(2500), at(t, sub, "plan.price"))
	got = s.do(t, call{Method: "GET", Path: "/v1/subscriptions/" + subID,
		Header: map[string]string{"X-Min-Position": subResp.header.Get("X-Event-Position")}}).ok(t, http.StatusOK)
	require.Equal(t, sub, got, "the 201 body is the GET document")

	detail := s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID}).ok(t, http.StatusOK)
	require.Len(t, detail["subscriptions"], 1)
	require.Equal(t, subID, at(t, detail, "subscriptions.0.id"))
	require.Equal(t, "pending", at(t, detail, "subscriptions.0.status"))
	require.Equal(t, map[string]any{"name": "Coffee club", "price": money(2500), "interval": map[string]any{"unit": "month", "count": num(1)}},
		at(t, detail, "subscriptions.0.plan"))
	require.NotNil(t, at(t, detail, "subscriptions.0.signed_up_at"))
	require.Nil(t, at(t, detail, "subscriptions.0.activated_at"))
	require.Equal(t, money(0), at(t, detail, "subscriptions.0.total_paid"))
	require.Equal(t, num(0), at(t, detail, "subscriptions.0.subscribed_days"))
	require.Equal(t, map[string]any{
		"product_id": "beans", "name": "Coffee beans", "quantity": num(2), "interval": map[string]any{"unit": "week", "count": num(2)},
		"next_shipment_on": today.String(), "last_shipped_on": nil,
	}, pick(at(t, detail, "subscriptions.0.products.0"), "product_id", "name", "quantity", "interval", "next_shipment_on", "last_shipped_on"))
	require.Len(t, detail["invoices"], 1)
	year := time.Now().In(amsterdam).Year()
	require.Equal(t, fmt.Sprintf("INV-%d-000001", year), at(t, detail, "invoices.0.number"))
	require.Equal(t, "open", at(t, detail, "invoices.0.status"))
	require.Equal(t, money(2500), at(t, detail, "invoices.0.amount"))
	require.Equal(t, "Ann Jansen", at(t, detail, "invoices.0.customer_name"))
	require.Equal(t, num(0), at(t, detail, "invoices.0.retries"))
	invID := at(t, detail, "invoices.0.id").(string)
	require.NotEmpty(t, detail["payments"])
	require.Equal(t, "planned", at(t, detail, "payments.0.status"))
	require.Equal(t, map[string]any{"enabled": false, "last": nil}, detail["track_and_trace"])
	require.Nil(t, detail["return_label"])
	// Emails are planned by issue 5's email reactor; until it runs the
	// history is empty, and says so.
	// The email reactor plans emails from these events as they come (its
	// appends are not covered by the writes' positions, so the list may
	// still be growing); without SMTP_URL none is sent.
	for _, e := range detail["emails"].([]any) {
		require.Equal(t, "planned", e.(map[string]any)["status"], "%v", e)
	}
	emails := s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID + "/emails", Token: auditorToken}).ok(t, http.StatusOK)
	require.Equal(t, false, emails["has_more"])
	for _, e := range emails["data"].([]any) {
		require.Equal(t, "planned", e.(map[string]any)["status"], "%v", e)
	}

	// --- Active products.
	subPath := "/v1/subscriptions/" + subID
	sub = s.do(t, call{Method: "POST", Path: subPath + "/products", Body: map[string]any{
		"product_id": "mug", "name": "Mug", "price": money(1210),
	}}).ok(t, http.StatusOK)
	require.Len(t, sub["products"], 2)
	require.Equal(t, map[string]any{"unit": "month", "count": num(1)}, at(t, sub, "products.1.interval"), "the plan's interval by default")
	require.Equal(t, num(1), at(t, sub, "products.1.quantity"))
	s.do(t, call{Method: "POST", Path: subPath + "/products", Body: map[string]any{"product_id": "mug", "name": "Mug"}}).
		fails(t, http.StatusConflict, "product_already_in_subscription", "")
	// A product is accepted back in the shape the page shows it: its first
	// shipment as next_shipment_on.
	sub = s.do(t, call{Method: "POST", Path: subPath + "/products", Body: map[string]any{
		"product_id": "filter", "name": "Filter", "interval": map[string]any{"unit": "week", "count": 6},
		"next_shipment_on": today.AddDays(5).String(),
	}}).ok(t, http.StatusOK)
	require.Equal(t, today.AddDays(5).String(), at(t, sub, "products.2.next_shipment_on"))
	sub = s.do(t, call{Method: "DELETE", Path: subPath + "/products/filter"}).ok(t, http.StatusOK)

	next := today.AddDays(10)
	version := sub["version"].(float64)
	sub = s.do(t, call{Method: "PATCH", Path: subPath + "/products/beans", Body: map[string]any{
		"interval": map[string]any{"unit": "month", "count": 1}, "next_shipment_on": next.String(),
	}, Header: map[string]string{"If-Match": strconv.Itoa(int(version))}}).ok(t, http.StatusOK)
	require.Equal(t, version+2, sub["version"], "interval and date in one append of two events")
	require.Equal(t, next.String(), at(t, sub, "products.0.next_shipment_on"))
	require.Equal(t, map[string]any{"unit": "month", "count": num(1)}, at(t, sub, "products.0.interval"))
	s.do(t, call{Method: "PATCH", Path: subPath + "/products/beans", Body: map[string]any{"next_shipment_on": next.AddDays(1).String()},
		Header: map[string]string{"If-Match": strconv.Itoa(int(version))}}).fails(t, http.StatusPreconditionFailed, "version_mismatch", "")
	s.do(t, call{Method: "PATCH", Path: subPath + "/products/nope", Body: map[string]any{"next_shipment_on": next.String()}}).
		fails(t, http.StatusNotFound, "product_not_found", "")

	sub = s.do(t, call{Method: "POST", Path: subPath + "/products/beans/skip"}).ok(t, http.StatusOK)
	require.Equal(t, domain.AddMonthsClamped(next, 1).String(), at(t, sub, "products.0.next_shipment_on"))
	sub = s.do(t, call{Method: "DELETE", Path: subPath + "/products/mug"}).ok(t, http.StatusOK)
	require.Len(t, sub["products"], 1)
	s.do(t, call{Method: "DELETE", Path: subPath + "/products/mug"}).fails(t, http.StatusNotFound, "product_not_found", "")
	s.do(t, call{Method: "POST", Path: subPath + "/products/beans/ship-now"}).
		fails(t, http.StatusConflict, "subscription_not_active", "")

	// The first charge is paid (the payment reactor's work in issue 5,
	// done here by appending its events), so the subscription is active.
	pos := payFirstCharge(t, s.dbURL, domain.SubscriptionID(subID), domain.InvoiceID(invID), 2500, amsterdam)
	detail = s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID, Header: map[string]string{"X-Min-Position": pos.Token()}}).ok(t, http.StatusOK)
	require.Equal(t, "active", at(t, detail, "subscriptions.0.status"))
	require.Equal(t, money(2500), at(t, detail, "subscriptions.0.total_paid"))
	require.Equal(t, "paid", at(t, detail, "invoices.0.status"))

	shipped := s.do(t, call{Method: "POST", Path: subPath + "/products/beans/ship-now", Token: supportToken})
	sub = shipped.ok(t, http.StatusOK)
	orderPath := shipped.header.Get("Location")
	require.True(t, strings.HasPrefix(orderPath, "/v1/orders/ord_"), orderPath)
	require.Equal(t, today.String(), at(t, sub, "products.0.last_shipped_on"))
	require.Equal(t, domain.AddMonthsClamped(today, 1).String(), at(t, sub, "products.0.next_shipment_on"))
	shipOrder := s.do(t, call{Method: "GET", Path: orderPath}).ok(t, http.StatusOK)
	require.Equal(t, "ORD-000001", shipOrder["number"])
	require.Equal(t, "to_be_sent", shipOrder["status"])
	require.Equal(t, subID, shipOrder["subscription_id"])
	require.Equal(t, true, at(t, shipOrder, "items.0.included_in_plan"))
	require.Equal(t, money(0), shipOrder["total"])
	require.Nil(t, shipOrder["invoice"], "a product included in the plan is not invoiced")

	// Pause, resume, cancel at the end of the period.
	s.do(t, call{Method: "POST", Path: subPath + "/cancel", Body: map[string]any{"reason": "moving"}}).
		fails(t, http.StatusBadRequest, "invalid_field", "at_period_end")
	require.Equal(t, "paused", s.do(t, call{Method: "POST", Path: subPath + "/pause"}).ok(t, http.StatusOK)["status"])
	require.Equal(t, "active", s.do(t, call{Method: "POST", Path: subPath + "/resume", Body: "{}"}).ok(t, http.StatusOK)["status"])

	// --- A one-off order: invoiced at once, then tracking, which needs the
	// track & trace setting.
	placed := s.do(t, call{Method: "POST", Path: "/v1/orders", Token: supportToken, Body: map[string]any{
		"customer_id": cusID, "delivery_method": "delivery", "discount": money(100),
		"items": []any{map[string]any{"product_id": "descaler", "name": "Descaler", "quantity": 2, "unit_price": money(999)}},
	}})
	ord := placed.ok(t, http.StatusCreated)
	ordID := ord["id"].(string)
	require.Equal(t, "/v1/orders/"+ordID, placed.header.Get("Location"))
	require.Equal(t, "ORD-000002", ord["number"])
	require.Equal(t, "to_be_sent", ord["status"])
	require.Equal(t, "delivery", ord["delivery_method"])
	require.Equal(t, money(1998), ord["subtotal"])
	require.Equal(t, money(100), ord["discount"])
	require.Equal(t, money(1898), ord["total"])
	require.Equal(t, map[string]any{"rate_bp": num(2100), "amount": money(329)}, ord["vat"])
	require.Equal(t, "Keizersgracht 1", at(t, ord, "billing_address.street"))
	require.Equal(t, fmt.Sprintf("INV-%d-000002", year), at(t, ord, "invoice.number"))
	inv := s.do(t, call{Method: "GET", Path: "/v1/invoices/" + at(t, ord, "invoice.id").(string), Token: auditorToken}).ok(t, http.StatusOK)
	// The PDF is made even though this server has no BUSINESS_ADDRESS.
	pdf := s.do(t, call{Method: "GET", Path: inv["pdf_url"].(string), Token: auditorToken})
	require.Equal(t, http.StatusOK, pdf.status, "body: %s", pdf.raw)
	require.Equal(t, "application/pdf", pdf.header.Get("Content-Type"))
	require.True(t, bytes.HasPrefix(pdf.raw, []byte("%PDF-")))
	require.Equal(t, money(1898), inv["amount"])
	require.Equal(t, "open", inv["status"])

	track := map[string]any{"tracking_code": "3SABC123", "tracking_url": "https://tracking.example.com/3SABC123", "carrier": "PostNL"}
	s.do(t, call{Method: "POST", Path: "/v1/orders/" + ordID + "/tracking", Body: track}).
		fails(t, http.StatusConflict, "track_and_trace_disabled", "")

	settingsBody := map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": 3, "from_name": "Vivlab", "from_address": "hello@vivlab.example"}
	s.do(t, call{Method: "PUT", Path: "/v1/settings/email", Token: supportToken, Body: settingsBody}).fails(t, http.StatusForbidden, "forbidden", "")
	s.do(t, call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{"track_and_trace_enabled": true}}).
		fails(t, http.StatusBadRequest, "invalid_field", "charge_reminder_days_before")
	s.do(t, call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": 31, "from_name": "V", "from_address": "v@v.example"}}).
		fails(t, http.StatusBadRequest, "invalid_field", "charge_reminder_days_before")
	put := s.do(t, call{Method: "PUT", Path: "/v1/settings/email", Body: settingsBody})
	require.Equal(t, map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": num(3), "from_name": "Vivlab", "from_address": "hello@vivlab.example", "version": num(1)},
		put.ok(t, http.StatusOK))
	require.NotEmpty(t, put.header.Get("X-Event-Position"))
	require.Equal(t, put.body, s.do(t, call{Method: "GET", Path: "/v1/settings/email", Token: auditorToken}).ok(t, http.StatusOK))
	s.do(t, call{Method: "GET", Path: "/v1/settings/email", Token: supportToken}).fails(t, http.StatusForbidden, "forbidden", "")

	// The dunning policy: the defaults of API.md until changed.
	require.Equal(t, map[string]any{"retry_days": []any{num(1), num(3), num(5), num(7)}, "final_action": "cancel_at_period_end", "version": num(1)},
		s.do(t, call{Method: "GET", Path: "/v1/settings/dunning", Token: auditorToken}).ok(t, http.StatusOK))
	for _, bad := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"final_action": "cancel_now"}, "retry_days"},
		{map[string]any{"retry_days": []int{1}}, "final_action"},
		{map[string]any{"retry_days": []int{3, 1}, "final_action": "cancel_now"}, "retry_days[1]"},
		{map[string]any{"retry_days": []int{0}, "final_action": "cancel_now"}, "retry_days[0]"},
		{map[string]any{"retry_days": []int{1}, "final_action": "shrug"}, "final_action"},
	} {
		s.do(t, call{Method: "PUT", Path: "/v1/settings/dunning", Body: bad.body}).fails(t, http.StatusBadRequest, "invalid_field", bad.field)
	}
	s.do(t, call{Method: "PUT", Path: "/v1/settings/dunning", Body: map[string]any{"retry_days": []int{1}, "final_action": "cancel_now", "max": 3}}).
		fails(t, http.StatusBadRequest, "unknown_field", "max")
	dunning := map[string]any{"retry_days": []int{2, 4}, "final_action": "keep_past_due"}
	s.do(t, call{Method: "PUT", Path: "/v1/settings/dunning", Token: supportToken, Body: dunning}).fails(t, http.StatusForbidden, "forbidden", "")
	s.do(t, call{Method: "PUT", Path: "/v1/settings/dunning", Body: dunning, Header: map[string]string{"If-Match": "7"}}).
		fails(t, http.StatusPreconditionFailed, "version_mismatch", "")
	put = s.do(t, call{Method: "PUT", Path: "/v1/settings/dunning", Body: dunning, Header: map[string]string{"If-Match": "1"}})
	require.Equal(t, map[string]any{"retry_days": []any{num(2), num(4)}, "final_action": "keep_past_due", "version": num(2)}, put.ok(t, http.StatusOK))
	require.Equal(t, put.body, s.do(t, call{Method: "GET", Path: "/v1/settings/dunning", Token: auditorToken}).ok(t, http.StatusOK))
	// No retries at all is a policy too.
	put = s.do(t, call{Method: "PUT", Path: "/v1/settings/dunning", Body: map[string]any{"retry_days": []int{}, "final_action": "cancel_now"}})
	require.Equal(t, []any{}, put.ok(t, http.StatusOK)["retry_days"])

	ord = s.do(t, call{Method: "POST", Path: "/v1/orders/" + ordID + "/tracking", Token: supportToken, Body: track}).ok(t, http.StatusOK)
	require.Equal(t, "sent", ord["status"])
	require.Equal(t, "3SABC123", at(t, ord, "shipping.tracking_code"))
	require.Equal(t, "https://tracking.example.com/3SABC123", at(t, ord, "shipping.tracking_url"))
	require.NotNil(t, at(t, ord, "shipping.sent_at"))

	// A pickup order.
	pickup := s.do(t, call{Method: "POST", Path: "/v1/orders", Body: map[string]any{
		"customer_id": cusID, "delivery_method": "pickup",
		"items": []any{map[string]any{"product_id": "filter", "name": "Water filter", "quantity": 1, "unit_price": money(1500)}},
	}}).ok(t, http.StatusCreated)
	require.Equal(t, "to_be_picked_up", pickup["status"])
	pickPath := "/v1/orders/" + pickup["id"].(string)
	s.do(t, call{Method: "POST", Path: pickPath + "/tracking", Body: track}).fails(t, http.StatusConflict, "pickup_order_no_tracking", "")
	pickup = s.do(t, call{Method: "POST", Path: pickPath + "/pickup"}).ok(t, http.StatusOK)
	require.Equal(t, "picked_up", pickup["status"])
	require.NotNil(t, at(t, pickup, "pickup.picked_up_at"))
	s.do(t, call{Method: "POST", Path: "/v1/orders/" + ordID + "/pickup"}).fails(t, http.StatusConflict, "delivery_order_no_pickup", "")
	s.do(t, call{Method: "POST", Path: "/v1/orders/ord_nothing/pickup"}).fails(t, http.StatusNotFound, "order_not_found", "")

	// Return label: recorded; its email is issue 5's.
	rl := s.do(t, call{Method: "POST", Path: "/v1/customers/" + cusID + "/return-label", Token: supportToken}).ok(t, http.StatusOK)
	require.NotNil(t, rl["return_label"])

	// --- The detail page, section by section, after all that.
	detail = s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID}).ok(t, http.StatusOK)
	require.Equal(t, "Jansen", at(t, detail, "customer.last_name"))
	require.Equal(t, "active", at(t, detail, "subscriptions.0.status"))
	require.Equal(t, today.String(), at(t, detail, "subscriptions.0.products.0.last_shipped_on"))
	require.Equal(t, map[string]any{
		"enabled": true,
		"last": map[string]any{"order_id": ordID, "order_number": "ORD-000002", "code": "3SABC123",
			"url": "https://tracking.example.com/3SABC123", "carrier": "PostNL", "sent_at": at(t, ord, "shipping.sent_at")},
	}, detail["track_and_trace"])
	orders := map[string]map[string]any{}
	for _, o := range detail["orders"].([]any) {
		orders[o.(map[string]any)["number"].(string)] = o.(map[string]any)
	}
	require.Len(t, orders, 3)
	require.Equal(t, "to_be_sent", orders["ORD-000001"]["status"])
	require.Equal(t, today.String(), orders["ORD-000001"]["shipped_on"])
	require.Equal(t, "sent", orders["ORD-000002"]["status"])
	require.Equal(t, "3SABC123", orders["ORD-000002"]["tracking_code"])
	require.Equal(t, "picked_up", orders["ORD-000003"]["status"])
	require.Len(t, detail["invoices"], 3, "the first charge and the two one-off orders")
	// The email reactor plans emails from these events as they come (its
	// appends are not covered by the writes' positions, so the list may
	// still be growing); without SMTP_URL none is sent.
	for _, e := range detail["emails"].([]any) {
		require.Equal(t, "planned", e.(map[string]any)["status"], "%v", e)
	}

	// The overview finds the customer by name, email and order number.
	for _, q := range []string{"jansen", "ann@example", "ORD-000002"} {
		list := s.do(t, call{Method: "GET", Path: "/v1/customers?query=" + q, Token: auditorToken}).ok(t, http.StatusOK)
		require.Len(t, list["data"], 1, "query %s", q)
		require.Equal(t, cusID, at(t, list, "data.0.id"))
	}
	list := s.do(t, call{Method: "GET", Path: "/v1/customers?status=canceled"}).ok(t, http.StatusOK)
	require.Equal(t, []any{}, list["data"])

	require.Equal(t, "canceling", s.do(t, call{Method: "POST", Path: subPath + "/cancel", Body: map[string]any{"at_period_end": true, "reason": "moving"}}).
		ok(t, http.StatusOK)["status"])
	s.do(t, call{Method: "POST", Path: subPath + "/products/beans/ship-now"}).fails(t, http.StatusConflict, "subscription_canceled", "")
}

// pick returns the named keys of a JSON object.
func pick(v any, keys ...string) map[string]any {
	m := v.(map[string]any)
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		out[k] = m[k]
	}
	return out
}

// payFirstCharge records that the subscription's first charge was paid,
// as the payment reactor of issue 5 will: the invoice's attempt succeeds,
// and the subscription records the payment (and activates). It returns the
// position of the last event.
func payFirstCharge(t *testing.T, dbURL string, sub domain.SubscriptionID, inv domain.InvoiceID, amount int64, loc *time.Location) eventstore.Position {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	defer pool.Close()
	store := postgres.New(pool)
	now := time.Now()
	const pay = domain.PaymentID("pay_test1")
	opts := eventstore.ExecuteOptions{Metadata: eventstore.Metadata{Actor: "test", OccurredAt: now}}
	for _, c := range []invoice.Command{
		invoice.StartAttempt{PaymentID: pay, Attempt: 1, At: now},
		invoice.RecordAttemptSucceeded{PaymentID: pay, PaymentIntentID: "pi_test1", At: now},
	} {
		_, err := eventstore.Execute(ctx, store, invoice.Aggregate, invoice.Stream(inv), c, opts)
		require.NoError(t, err)
	}
	res, err := eventstore.Execute(ctx, store, subscription.Aggregate, subscription.Stream(sub), subscription.Command(subscription.RecordPayment{
		SubscriptionID: sub, InvoiceID: inv, PaymentID: pay, Amount: domain.Cents(amount), At: now, Location: loc,
	}), opts)
	require.NoError(t, err)
	return res.Position
}

// newCustomer creates a customer and returns its id.
func (s *apiServer) newCustomer(t *testing.T, email string) string {
	t.Helper()
	body := s.do(t, call{Method: "POST", Path: "/v1/customers", Body: map[string]any{
		"first_name": "Bea", "last_name": "Bakker", "email": email,
		"address": map[string]any{"street": "Damrak 1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
	}}).ok(t, http.StatusCreated)
	return body["id"].(string)
}

// TestAPIBadInput sends bad input to every command: each answer is a 4xx
// naming the field, and no body whatever makes the server answer 500.
func TestAPIBadInput(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	cusID := s.newCustomer(t, "bea@example.com")
	sub := s.do(t, call{Method: "POST", Path: "/v1/subscriptions", Body: map[string]any{
		"customer_id": cusID, "delivery_method": "pickup",
		"plan":     map[string]any{"name": "Tea", "price": money(1500), "interval": map[string]any{"unit": "month", "count": 1}},
		"products": []any{map[string]any{"product_id": "tea", "name": "Tea"}},
	}}).ok(t, http.StatusCreated)
	subPath := "/v1/subscriptions/" + sub["id"].(string)
	ord := s.do(t, call{Method: "POST", Path: "/v1/orders", Body: map[string]any{
		"customer_id": cusID, "delivery_method": "delivery",
		"items": []any{map[string]any{"product_id": "cup", "name": "Cup", "quantity": 1, "unit_price": money(500)}},
	}}).ok(t, http.StatusCreated)
	ordPath := "/v1/orders/" + ord["id"].(string)

	addr := func(country string) map[string]any {
		return map[string]any{"street": "1 Main St", "zipcode": "10001", "city": "New York", "country": country}
	}
	plan := func(f func(map[string]any)) map[string]any {
		p := map[string]any{"name": "Tea", "price": money(1500), "interval": map[string]any{"unit": "month", "count": 1}}
		if f != nil {
			f(p)
		}
		return p
	}
	newSub := func(f func(map[string]any)) map[string]any {
		b := map[string]any{"customer_id": cusID, "delivery_method": "delivery", "plan": plan(nil)}
		f(b)
		return b
	}
	item := func(f func(map[string]any)) map[string]any {
		i := map[string]any{"product_id": "cup", "name": "Cup", "quantity": 1, "unit_price": money(500)}
		if f != nil {
			f(i)
		}
		return i
	}
	newOrder := func(f func(map[string]any)) map[string]any {
		b := map[string]any{"customer_id": cusID, "delivery_method": "delivery", "items": []any{item(nil)}}
		f(b)
		return b
	}
	long := strings.Repeat("x", 501)

	for _, tc := range []struct {
		name   string
		call   call
		status int
		code   string
		field  string
	}{
		{"customer: not JSON", call{Method: "POST", Path: "/v1/customers", Body: `{"first_name":`}, 400, "invalid_json", ""},
		{"customer: trailing data", call{Method: "POST", Path: "/v1/customers", Body: `{} {}`}, 400, "invalid_json", ""},
		{"customer: unknown field", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"first_name": "A", "frist_name": "B"}}, 400, "unknown_field", "frist_name"},
		{"customer: field in the wrong case", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"First_Name": "A"}}, 400, "unknown_field", "First_Name"},
		{"customer: unknown nested field", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"address": map[string]any{"streeet": "x"}}}, 400, "unknown_field", "address.streeet"},
		{"customer: wrong type", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"first_name": 5}}, 400, "invalid_field", "first_name"},
		{"customer: no address", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"first_name": "A", "last_name": "B", "email": "a@b.example"}}, 400, "invalid_field", "address"},
		{"customer: no first name", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"last_name": "B", "email": "a@b.example", "address": addr("NL")}}, 400, "invalid_field", "first_name"},
		{"customer: bad email", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"first_name": "A", "last_name": "B", "email": "nope", "address": addr("NL")}}, 400, "invalid_field", "email"},
		{"customer: bad country", call{Method: "POST", Path: "/v1/customers", Body: map[string]any{"first_name": "A", "last_name": "B", "email": "a@b.example", "address": addr("XX")}}, 400, "invalid_field", "address.country"},
		{"customer: body too large", call{Method: "POST", Path: "/v1/customers", Body: `{"first_name":"` + strings.Repeat("a", 1<<20) + `"}`}, 400, "body_too_large", ""},

		{"edit: bad phone", call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"phone": "0612"}}, 400, "invalid_field", "phone"},
		{"edit: unknown field in shipping address", call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"shipping_address": map[string]any{"zip": "1"}}}, 400, "unknown_field", "shipping_address.zip"},
		{"edit: incomplete shipping address", call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"shipping_address": map[string]any{"street": "a", "city": "b", "country": "NL"}}}, 400, "invalid_field", "shipping_address.zipcode"},
		{"edit: empty last name", call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"last_name": " "}}, 400, "invalid_field", "last_name"},
		{"edit: bad If-Match", call{Method: "PATCH", Path: "/v1/customers/" + cusID, Body: map[string]any{"last_name": "C"}, Header: map[string]string{"If-Match": "abc"}}, 400, "invalid_header", "If-Match"},
		{"return label: a body", call{Method: "POST", Path: "/v1/customers/" + cusID + "/return-label", Body: map[string]any{"label": "x"}}, 400, "unknown_field", "label"},

		{"subscription: no plan", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) { delete(b, "plan") })}, 400, "invalid_field", "plan"},
		{"subscription: no delivery method", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) { delete(b, "delivery_method") })}, 400, "invalid_field", "delivery_method"},
		{"subscription: bad delivery method", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) { b["delivery_method"] = "drone" })}, 400, "invalid_field", "delivery_method"},
		{"subscription: float price", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["plan"] = plan(func(p map[string]any) { p["price"] = map[string]any{"amount": 12.5, "currency": "EUR"} })
		})}, 400, "invalid_field", "plan.price.amount"},
		{"subscription: zero price", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["plan"] = plan(func(p map[string]any) { p["price"] = money(0) })
		})}, 400, "invalid_field", "plan.price.amount"},
		{"subscription: lower-case currency", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["plan"] = plan(func(p map[string]any) { p["price"] = map[string]any{"amount": 100, "currency": "eur"} })
		})}, 400, "invalid_field", "plan.price.currency"},
		{"subscription: daily plan", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["plan"] = plan(func(p map[string]any) { p["interval"] = map[string]any{"unit": "day", "count": 1} })
		})}, 400, "invalid_field", "plan.interval.unit"},
		{"subscription: term of no cycles", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) { b["term_cycles"] = 0 })}, 400, "invalid_field", "term_cycles"},
		{"subscription: unknown customer", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) { b["customer_id"] = "cus_nobody" })}, 404, "customer_not_found", "customer_id"},
		{"subscription: not a customer id", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) { b["customer_id"] = "bea" })}, 400, "invalid_field", "customer_id"},
		{"subscription: product quantity", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea", "quantity": 0}}
		})}, 400, "invalid_field", "products[0].quantity"},
		{"subscription: product twice", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea"}, map[string]any{"product_id": "tea", "name": "Tea"}}
		})}, 400, "invalid_field", "products[1].product_id"},
		{"subscription: product date", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea", "first_shipment_on": "2026-02-30"}}
		})}, 400, "invalid_field", "products[0].first_shipment_on"},
		{"subscription: product's two first-shipment dates differ", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea", "first_shipment_on": "2099-01-01", "next_shipment_on": "2099-01-02"}}
		})}, 400, "invalid_field", "products[0].next_shipment_on"},
		{"subscription: product in the past", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea", "first_shipment_on": "2020-01-01"}}
		})}, 400, "invalid_field", "products[0].first_shipment_on"},
		{"subscription: product in another currency", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea", "price": map[string]any{"amount": 100, "currency": "USD"}}}
		})}, 400, "currency_mismatch", "products[0].price.currency"},
		{"subscription: unknown product field", call{Method: "POST", Path: "/v1/subscriptions", Body: newSub(func(b map[string]any) {
			b["products"] = []any{map[string]any{"product_id": "tea", "name": "Tea", "qty": 1}}
		})}, 400, "unknown_field", "products[0].qty"},

		{"add product: no id", call{Method: "POST", Path: subPath + "/products", Body: map[string]any{"name": "Cup"}}, 400, "invalid_field", "product_id"},
		{"add product: no name", call{Method: "POST", Path: subPath + "/products", Body: map[string]any{"product_id": "cup"}}, 400, "invalid_field", "name"},
		{"add product: bad interval", call{Method: "POST", Path: subPath + "/products", Body: map[string]any{"product_id": "cup", "name": "Cup", "interval": map[string]any{"unit": "week", "count": 0}}}, 400, "invalid_field", "interval.count"},
		{"add product: unknown subscription", call{Method: "POST", Path: "/v1/subscriptions/sub_nobody/products", Body: map[string]any{"product_id": "cup", "name": "Cup"}}, 404, "subscription_not_found", ""},
		{"update product: nothing", call{Method: "PATCH", Path: subPath + "/products/tea", Body: map[string]any{}}, 400, "invalid_field", "interval"},
		{"update product: bad date", call{Method: "PATCH", Path: subPath + "/products/tea", Body: map[string]any{"next_shipment_on": "tomorrow"}}, 400, "invalid_field", "next_shipment_on"},
		{"update product: past date", call{Method: "PATCH", Path: subPath + "/products/tea", Body: map[string]any{"next_shipment_on": "2020-01-01"}}, 400, "invalid_field", "next_shipment_on"},
		{"update product: bad unit", call{Method: "PATCH", Path: subPath + "/products/tea", Body: map[string]any{"interval": map[string]any{"unit": "fortnight", "count": 1}}}, 400, "invalid_field", "interval.unit"},
		{"update product: unknown", call{Method: "PATCH", Path: subPath + "/products/coffee", Body: map[string]any{"interval": map[string]any{"unit": "week", "count": 1}}}, 404, "product_not_found", ""},
		{"skip: unknown product", call{Method: "POST", Path: subPath + "/products/coffee/skip"}, 404, "product_not_found", ""},
		{"ship now: pending", call{Method: "POST", Path: subPath + "/products/tea/ship-now"}, 409, "subscription_not_active", ""},
		{"remove: unknown product", call{Method: "DELETE", Path: subPath + "/products/coffee"}, 404, "product_not_found", ""},
		{"cancel: no at_period_end", call{Method: "POST", Path: subPath + "/cancel", Body: map[string]any{}}, 400, "invalid_field", "at_period_end"},
		{"cancel: at_period_end a string", call{Method: "POST", Path: subPath + "/cancel", Body: map[string]any{"at_period_end": "yes"}}, 400, "invalid_field", "at_period_end"},
		{"cancel: long reason", call{Method: "POST", Path: subPath + "/cancel", Body: map[string]any{"at_period_end": true, "reason": long}}, 400, "invalid_field", "reason"},
		{"pause: pending", call{Method: "POST", Path: subPath + "/pause"}, 409, "subscription_not_active", ""},
		{"pause: a body", call{Method: "POST", Path: subPath + "/pause", Body: map[string]any{"until": "2030-01-01"}}, 400, "unknown_field", "until"},
		{"resume: pending", call{Method: "POST", Path: subPath + "/resume"}, 409, "subscription_not_paused", ""},

		{"order: no items", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { delete(b, "items") })}, 400, "invalid_field", "items"},
		{"order: no delivery method", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { delete(b, "delivery_method") })}, 400, "invalid_field", "delivery_method"},
		{"order: float price", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) {
			b["items"] = []any{item(nil), item(func(i map[string]any) { i["unit_price"] = map[string]any{"amount": 1.5, "currency": "EUR"} })}
		})}, 400, "invalid_field", "items[1].unit_price.amount"},
		{"order: no price", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) {
			b["items"] = []any{item(func(i map[string]any) { delete(i, "unit_price") })}
		})}, 400, "invalid_field", "items[0].unit_price"},
		{"order: no product id", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) {
			b["items"] = []any{item(func(i map[string]any) { delete(i, "product_id") })}
		})}, 400, "invalid_field", "items[0].product_id"},
		{"order: quantity", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) {
			b["items"] = []any{item(func(i map[string]any) { i["quantity"] = 0 })}
		})}, 400, "invalid_field", "items[0].quantity"},
		{"order: discount above subtotal", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { b["discount"] = money(501) })}, 400, "invalid_field", "discount.amount"},
		{"order: negative discount", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { b["discount"] = money(-1) })}, 400, "invalid_field", "discount.amount"},
		{"order: no VAT rate for the country", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { b["shipping_address"] = addr("US") })}, 409, "vat_rate_unknown", "shipping_address.country"},
		{"order: bad billing address", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { b["billing_address"] = addr("ZZ") })}, 400, "invalid_field", "billing_address.country"},
		{"order: unknown customer", call{Method: "POST", Path: "/v1/orders", Body: newOrder(func(b map[string]any) { b["customer_id"] = "cus_nobody" })}, 404, "customer_not_found", "customer_id"},
		{"tracking: no code", call{Method: "POST", Path: ordPath + "/tracking", Body: map[string]any{"tracking_url": "https://t.example/1"}}, 400, "invalid_field", "tracking_code"},
		{"tracking: not a link", call{Method: "POST", Path: ordPath + "/tracking", Body: map[string]any{"tracking_code": "1", "tracking_url": "javascript:alert(1)"}}, 400, "invalid_field", "tracking_url"},
		{"tracking: unknown order", call{Method: "POST", Path: "/v1/orders/ord_nobody/tracking", Body: map[string]any{"tracking_code": "1", "tracking_url": "https://t.example/1"}}, 404, "order_not_found", ""},
		{"pickup: a delivery order", call{Method: "POST", Path: ordPath + "/pickup"}, 409, "delivery_order_no_pickup", ""},

		{"settings: no from address", call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": 3, "from_name": "V"}}, 400, "invalid_field", "from_address"},
		{"settings: bad from address", call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": 3, "from_name": "V", "from_address": "V <v@v.example>"}}, 400, "invalid_field", "from_address"},
		{"settings: header injection", call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": 3, "from_name": "V\r\nBcc: x@y.z", "from_address": "v@v.example"}}, 400, "invalid_field", "from_name"},
		{"settings: negative days", call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{"track_and_trace_enabled": true, "charge_reminder_days_before": -1, "from_name": "V", "from_address": "v@v.example"}}, 400, "invalid_field", "charge_reminder_days_before"},

		{"list: limit too big", call{Method: "GET", Path: "/v1/customers?limit=101"}, 400, "invalid_field", "limit"},
		{"list: bad status", call{Method: "GET", Path: "/v1/customers?status=sleeping"}, 400, "invalid_field", "status"},
		{"list: bad cursor", call{Method: "GET", Path: "/v1/customers?cursor=not-a-cursor"}, 400, "invalid_field", "cursor"},
		{"emails: unknown customer", call{Method: "GET", Path: "/v1/customers/cus_nobody/emails"}, 404, "customer_not_found", ""},
		{"read: bad X-Min-Position", call{Method: "GET", Path: "/v1/customers/" + cusID, Header: map[string]string{"X-Min-Position": "soon"}}, 400, "invalid_header", "X-Min-Position"},
		{"rebuild: unknown projection", call{Method: "POST", Path: "/v1/projections/nothing/rebuild"}, 404, "projection_not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.do(t, tc.call).fails(t, tc.status, tc.code, tc.field)
		})
	}

	// Whatever the body, every write answers below 500.
	writes := []call{
		{Method: "POST", Path: "/v1/customers"},
		{Method: "PATCH", Path: "/v1/customers/" + cusID},
		{Method: "POST", Path: "/v1/customers/" + cusID + "/return-label"},
		{Method: "POST", Path: "/v1/subscriptions"},
		{Method: "POST", Path: subPath + "/cancel"},
		{Method: "POST", Path: subPath + "/pause"},
		{Method: "POST", Path: subPath + "/resume"},
		{Method: "POST", Path: subPath + "/products"},
		{Method: "PATCH", Path: subPath + "/products/tea"},
		{Method: "POST", Path: subPath + "/products/tea/ship-now"},
		{Method: "POST", Path: subPath + "/products/tea/skip"},
		{Method: "DELETE", Path: subPath + "/products/nothing"},
		{Method: "POST", Path: "/v1/orders"},
		{Method: "POST", Path: ordPath + "/tracking"},
		{Method: "POST", Path: ordPath + "/pickup"},
		{Method: "PUT", Path: "/v1/settings/email"},
	}
	junk := []string{"null", "[]", `"x"`, "1", "true", `{"a":{}}`, "{", `{"plan":5,"items":"x","address":[],"interval":{}}`,
		`{"customer_id":null,"products":[null],"items":[{}]}`, `{"price":{"amount":9223372036854775808}}`, "\xff\xfe"}
	for _, w := range writes {
		for _, body := range junk {
			c := w
			c.Body = body
			r := s.do(t, c)
			require.Less(t, r.status, 500, "%s %s %q: %s", c.Method, c.Path, body, r.raw)
			require.GreaterOrEqual(t, r.status, 200)
		}
	}
}

// TestAPIIdempotency repeats writes with an Idempotency-Key: the first
// answer comes back and nothing is appended twice.
func TestAPIIdempotency(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	body := map[string]any{
		"first_name": "Cas", "last_name": "Visser", "email": "cas@example.com",
		"address": map[string]any{"street": "Damrak 1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
	}
	key := map[string]string{"Idempotency-Key": "create-cas-1"}
	first := s.do(t, call{Method: "POST", Path: "/v1/customers", Token: supportToken, Body: body, Header: key})
	first.ok(t, http.StatusCreated)
	again := s.do(t, call{Method: "POST", Path: "/v1/customers", Token: supportToken, Body: body, Header: key})
	again.ok(t, http.StatusCreated)
	require.Equal(t, first.raw, again.raw)
	for _, h := range []string{"Location", "X-Event-Position", "ETag"} {
		require.Equal(t, first.header.Get(h), again.header.Get(h), h)
	}
	list := s.do(t, call{Method: "GET", Path: "/v1/customers?query=cas@example.com"}).ok(t, http.StatusOK)
	require.Len(t, list["data"], 1, "one customer, not two")

	body["first_name"] = "Caspar"
	s.do(t, call{Method: "POST", Path: "/v1/customers", Token: supportToken, Body: body, Header: key}).
		fails(t, http.StatusConflict, "idempotency_key_reused", "")

	// An order repeated takes no second number.
	cusID := first.body["id"].(string)
	order := map[string]any{"customer_id": cusID, "delivery_method": "delivery",
		"items": []any{map[string]any{"product_id": "cup", "name": "Cup", "quantity": 1, "unit_price": money(500)}}}
	okey := map[string]string{"Idempotency-Key": "order-1"}
	o1 := s.do(t, call{Method: "POST", Path: "/v1/orders", Body: order, Header: okey}).ok(t, http.StatusCreated)
	o2 := s.do(t, call{Method: "POST", Path: "/v1/orders", Body: order, Header: okey}).ok(t, http.StatusCreated)
	require.Equal(t, o1, o2)
	o3 := s.do(t, call{Method: "POST", Path: "/v1/orders", Body: order}).ok(t, http.StatusCreated)
	require.Equal(t, "ORD-000001", o1["number"])
	require.Equal(t, "ORD-000002", o3["number"], "numbers stay gapless")
}

// TestAPIProjections lists the projections and rebuilds one: the page it
// serves is the same before and after.
func TestAPIProjections(t *testing.T) {
	t.Parallel()
	s := startAPI(t)
	cusID := s.newCustomer(t, "dirk@example.com")
	before := s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID}).raw

	list := s.do(t, call{Method: "GET", Path: "/v1/projections", Token: auditorToken}).ok(t, http.StatusOK)
	names := map[string]map[string]any{}
	for _, p := range list["data"].([]any) {
		names[p.(map[string]any)["name"].(string)] = p.(map[string]any)
	}
	require.Contains(t, names, "customer_detail")
	for name, p := range names {
		require.Equal(t, "live", p["status"], name)
		require.Equal(t, num(0), p["lag"], name)
		require.NotEmpty(t, p["position"], name)
	}
	s.do(t, call{Method: "GET", Path: "/v1/projections", Token: supportToken}).fails(t, http.StatusForbidden, "forbidden", "")
	s.do(t, call{Method: "POST", Path: "/v1/projections/customer_detail/rebuild", Token: auditorToken}).fails(t, http.StatusForbidden, "forbidden", "")

	accepted := s.do(t, call{Method: "POST", Path: "/v1/projections/customer_detail/rebuild"}).ok(t, http.StatusAccepted)
	require.Equal(t, "customer_detail", accepted["name"])
	require.Eventually(t, func() bool {
		list := s.do(t, call{Method: "GET", Path: "/v1/projections"}).ok(t, http.StatusOK)
		for _, p := range list["data"].([]any) {
			if p.(map[string]any)["name"] == "customer_detail" {
				return p.(map[string]any)["status"] == "live"
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return strings.Contains(s.logs.String(), "projection rebuilt")
	}, 30*time.Second, 50*time.Millisecond, "logs:\n%s", s.logs)
	require.Equal(t, string(before), string(s.do(t, call{Method: "GET", Path: "/v1/customers/" + cusID}).raw))
}
