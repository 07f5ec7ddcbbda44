package http

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers/pdf"
)

// TestInvoicePDF: GET /v1/invoices/{id}/pdf answers the invoice as a PDF
// for staff and auditors, and 404 for an unknown or malformed id.
func TestInvoicePDF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	store := postgres.New(pool)
	commands := command.New(command.Deps{Store: store, Pool: pool, Clock: func() time.Time { return time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) }})
	home := domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}
	cus, err := commands.CreateCustomer(ctx, eventstore.Metadata{}, customer.Register{FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com", Address: home})
	require.NoError(t, err)
	o, err := commands.CreateOrder(ctx, eventstore.Metadata{}, command.NewOrder{
		CustomerID: cus.Customer.ID, DeliveryMethod: order.Delivery,
		Items: []domain.Line{{ProductID: "beans", Name: "Coffee beans", Quantity: 1, UnitPrice: domain.Cents(1210)}},
	})
	require.NoError(t, err)
	inv := o.Invoice.Invoice

	renderer, err := pdf.New(pdf.Business{Name: "Vivlab B.V.", Address: home}, time.UTC)
	require.NoError(t, err)
	s := &Server{Store: store, InvoicePDF: renderer, Tokens: matrixTokens, RateLimit: RateLimit{PerSecond: -1}}
	h := s.Handler()
	get := func(path string, role Role) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+tokenOf(role))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	for _, role := range []Role{RoleAdmin, RoleSupport, RoleAuditor} {
		rec := get("/v1/invoices/"+string(inv.ID)+"/pdf", role)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Equal(t, "application/pdf", rec.Header().Get("Content-Type"))
		require.Equal(t, `inline; filename="`+string(inv.Number)+`.pdf"`, rec.Header().Get("Content-Disposition"))
		require.Equal(t, "private, no-store", rec.Header().Get("Cache-Control"))
		require.True(t, bytes.HasPrefix(rec.Body.Bytes(), []byte("%PDF-")))
		want, err := renderer.Invoice(inv)
		require.NoError(t, err)
		require.Equal(t, len(want), rec.Body.Len(), "the invoice as the renderer draws it")
	}
	require.Equal(t, http.StatusForbidden, get("/v1/invoices/"+string(inv.ID)+"/pdf", RoleScheduler).Code)

	for _, path := range []string{"/v1/invoices/inv_unknown/pdf", "/v1/invoices/not-an-id/pdf"} {
		rec := get(path, RoleAdmin)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
		var body struct {
			Error struct{ Code string } `json:"error"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		require.Equal(t, "invoice_not_found", body.Error.Code)
	}

	// A server without a renderer says so instead of failing.
	bare := &Server{Store: store, Tokens: matrixTokens, RateLimit: RateLimit{PerSecond: -1}}
	req := httptest.NewRequest(http.MethodGet, "/v1/invoices/"+string(inv.ID)+"/pdf", nil)
	req.Header.Set("Authorization", "Bearer "+tokenOf(RoleAdmin))
	rec := httptest.NewRecorder()
	bare.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusNotImplemented, rec.Code)
}
