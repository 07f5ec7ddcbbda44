package http

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPurgeCustomerResponses: erasure deletes the stored responses that
// name the customer (in the body or the path), and only those.
func TestPurgeCustomerResponses(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	ctx := t.Context()
	// The test handler echoes the body, so each stored response holds what
	// was sent.
	for _, req := range []struct{ path, key, body string }{
		{"/v1/customers", "k1", `{"id":"cus_ann","first_name":"Annabel"}`},
		{"/v1/orders", "k2", `{"customer_id":"cus_ann","billing_address":{"street":"Prinsengracht 263"}}`},
		{"/v1/customers/cus_ann/return-label", "k3", `{}`},
		{"/v1/customers/cus_ann", "k4", `{"last_name":"X"}`},
		{"/v1/customers", "k5", `{"id":"cus_anna","first_name":"Anna"}`},
		{"/v1/customers/cus_anna", "k6", `{"last_name":"Y"}`},
		{"/v1/settings/email", "k7", `{"from_name":"Shop"}`},
	} {
		rec := b.do(t, http.MethodPost, req.path, req.key, "token-a", req.body)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	}
	// One request still in progress under the customer's path keeps its
	// claim.
	_, err := b.pool.Exec(ctx, `INSERT INTO http_idempotency_keys (token_hash, method, path, idem_key, request_hash, claim, locked_at)
		VALUES ('\x00', 'DELETE', '/v1/customers/cus_ann/personal-data', 'k8', '\x00', '\x00', now())`)
	require.NoError(t, err)

	n, err := b.server.idem.purgeCustomer(ctx, "cus_ann")
	require.NoError(t, err)
	require.Equal(t, int64(4), n)

	rows, err := b.pool.Query(ctx, `SELECT idem_key FROM http_idempotency_keys ORDER BY idem_key`)
	require.NoError(t, err)
	var left []string
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		left = append(left, k)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"k5", "k6", "k7", "k8"}, left, "cus_anna is another customer; k8 is in progress")
}
