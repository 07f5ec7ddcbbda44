package http

import (
	"context"
	"fmt"
	"net/http"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/http/internal/dbsqlc"
)

// handleErasePersonalData is DELETE /v1/customers/{id}/personal-data
// (admin): the customer's personal data is erased (command.ErasePersonalData
// destroys their data key and appends customer.personal_data_erased), the
// stored responses of Idempotency-Key that concern them are deleted, and
// the answer is 200 with the customer detail document as the read models
// show it once they have applied the erasure: personal fields empty,
// erased_at set. The events stay; history and ?as_of= show their personal
// fields as null. Erasing an erased customer is 200 with the same
// document. If-Match, when given, must match the customer's version before
// anything is destroyed (412 otherwise).
//
// The stored responses go after the command: a failure to delete them
// answers 500, so that the client retries, and the retry (erasure is
// idempotent) deletes them.
func (s *Server) handleErasePersonalData(w http.ResponseWriter, r *http.Request) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeNoBody(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	id := domain.CustomerID(pathVar(r, "id"))
	res, err := s.Commands.ErasePersonalData(r.Context(), s.metadata(r), id, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.idem != nil {
		n, err := s.idem.purgeCustomer(r.Context(), id)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.logger().InfoContext(r.Context(), "personal data erased", "customer_id", id, "stored_responses_deleted", n)
	}
	s.writeCommandDoc(w, r, http.StatusOK, res.Position, s.customerDoc(id), idVersion{ID: string(id), Version: res.Version})
}

// purgeCustomer deletes the completed Idempotency-Key responses that
// concern customer id: they are rendered documents, with the customer's
// name, email and addresses, kept for 24 hours to answer retries. They are
// found by scanning (see DeleteIdempotencyKeysOfCustomer): a body naming
// the id as a JSON string, or a request path under /v1/customers/<id>. A
// retry of a purged request runs again, which every command tolerates (its
// event ids derive from the key; see idempotencyKey).
func (st *idempotencyStore) purgeCustomer(ctx context.Context, id domain.CustomerID) (int64, error) {
	n, err := st.q.DeleteIdempotencyKeysOfCustomer(ctx, dbsqlc.DeleteIdempotencyKeysOfCustomerParams{
		QuotedID:     []byte(`"` + string(id) + `"`),
		CustomerPath: "/v1/customers/" + string(id),
	})
	if err != nil {
		return 0, fmt.Errorf("deleting the stored responses of customer %s: %w", id, err)
	}
	return n, nil
}
