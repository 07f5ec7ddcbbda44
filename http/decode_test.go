package http

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

// sampleBody is a representative command body: nesting, lists, optional
// pointers, the domain's own JSON types and an embedded struct.
type sampleBody struct {
	Name     string            `json:"name"`
	Quantity int               `json:"quantity"`
	Count    *uint8            `json:"count"`
	Ratio    float64           `json:"ratio"`
	Enabled  *bool             `json:"enabled"`
	Plan     *samplePlan       `json:"plan"`
	Items    []sampleItem      `json:"items"`
	Labels   map[string]string `json:"labels"`
	On       domain.Date       `json:"on"`
	At       time.Time         `json:"at"`
	Ignored  string            `json:"-"`
	sampleEmbedded
}

type sampleEmbedded struct {
	Note string `json:"note"`
}

type samplePlan struct {
	Name     string          `json:"name"`
	Price    domain.Money    `json:"price"`
	Interval domain.Interval `json:"interval"`
}

type sampleItem struct {
	ProductID string        `json:"product_id"`
	Quantity  int           `json:"quantity"`
	Price     *domain.Money `json:"price"`
}

func decodeString(body string) (sampleBody, error) {
	var v sampleBody
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	err := decodeJSON(httptest.NewRecorder(), req, &v)
	return v, err
}

func TestDecodeJSONAcceptsValidBodies(t *testing.T) {
	t.Parallel()
	v, err := decodeString(`{"name":"Ann","quantity":-3,"count":255,"ratio":1.5e2,"enabled":false,
		"plan":{"name":"Coffee","price":{"amount":1250,"currency":"EUR"},"interval":{"unit":"month","count":1}},
		"items":[{"product_id":"p1","quantity":2,"price":null},{"product_id":"p2","quantity":1,"price":{"amount":5,"currency":"EUR"}}],
		"labels":{"a":"b"},"on":"2026-11-21","at":"2026-11-21T10:00:00Z","note":"hi"}`)
	require.NoError(t, err)
	require.Equal(t, "Ann", v.Name)
	require.Equal(t, -3, v.Quantity)
	require.EqualValues(t, 255, *v.Count)
	require.Equal(t, int64(1250), v.Plan.Price.Amount())
	require.Equal(t, "p2", v.Items[1].ProductID)
	require.Equal(t, "hi", v.Note)
	require.Equal(t, "2026-11-21", v.On.String())

	for _, empty := range []string{"", "  \n", "{}", "null"} {
		_, err := decodeString(empty)
		require.NoError(t, err, "%q", empty)
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, body  string
		code, field string
	}{
		{"Syntax", `{"name":`, "invalid_json", ""},
		{"NotJSON", `name=Ann`, "invalid_json", ""},
		{"Trailing", `{"name":"Ann"} {}`, "invalid_json", ""},
		{"TrailingGarbage", `{"name":"Ann"}x`, "invalid_json", ""},
		{"TopLevelArray", `[]`, "invalid_field", ""},
		{"TopLevelString", `"x"`, "invalid_field", ""},
		{"UnknownTop", `{"nme":"Ann"}`, "unknown_field", "nme"},
		{"UnknownCase", `{"Name":"Ann"}`, "unknown_field", "Name"},
		{"UnknownNested", `{"plan":{"nmae":"x"}}`, "unknown_field", "plan.nmae"},
		{"UnknownInMoney", `{"plan":{"price":{"amount":1,"currency":"EUR","cents":1}}}`, "unknown_field", "plan.price.cents"},
		{"UnknownInList", `{"items":[{"product_id":"a"},{"product_id":"b","qty":1}]}`, "unknown_field", "items[1].qty"},
		{"IgnoredIsUnknown", `{"Ignored":"x"}`, "unknown_field", "Ignored"},
		{"UnknownFirstInSortedOrder", `{"zz":1,"aa":1}`, "unknown_field", "aa"},
		{"StringForInt", `{"quantity":"3"}`, "invalid_field", "quantity"},
		{"FloatForInt", `{"quantity":1.5}`, "invalid_field", "quantity"},
		{"ExponentForInt", `{"quantity":1e3}`, "invalid_field", "quantity"},
		{"IntOverflow", `{"quantity":99999999999999999999}`, "invalid_field", "quantity"},
		{"Uint8Overflow", `{"count":256}`, "invalid_field", "count"},
		{"NegativeUint", `{"count":-1}`, "invalid_field", "count"},
		{"FloatOverflow", `{"ratio":1e999}`, "invalid_field", "ratio"},
		{"NumberForString", `{"name":5}`, "invalid_field", "name"},
		{"StringForBool", `{"enabled":"true"}`, "invalid_field", "enabled"},
		{"ArrayForObject", `{"plan":[]}`, "invalid_field", "plan"},
		{"ObjectForArray", `{"items":{}}`, "invalid_field", "items"},
		{"NumberInMap", `{"labels":{"a":1}}`, "invalid_field", "labels.a"},
		{"MoneyFloat", `{"plan":{"price":{"amount":12.5,"currency":"EUR"}}}`, "invalid_field", "plan.price.amount"},
		{"MoneyAmountString", `{"plan":{"price":{"amount":"1250","currency":"EUR"}}}`, "invalid_field", "plan.price.amount"},
		{"MoneyNotObject", `{"items":[{"price":"12.50"}]}`, "invalid_field", "items[0].price"},
		{"IntervalCountString", `{"plan":{"interval":{"unit":"month","count":"1"}}}`, "invalid_field", "plan.interval.count"},
		{"BadDate", `{"on":"21-11-2026"}`, "invalid_field", "on"},
		{"DateNumber", `{"on":20261121}`, "invalid_field", "on"},
		{"BadTime", `{"at":"yesterday"}`, "invalid_field", "at"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := decodeString(tt.body)
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			require.Equal(t, domain.KindInvalid, de.Kind)
			require.Equal(t, tt.code, de.Code, de.Message)
			require.Equal(t, tt.field, de.Field, de.Message)
			require.NotEmpty(t, de.Message)
		})
	}
}

func TestDecodeJSONBodyTooLarge(t *testing.T) {
	t.Parallel()
	_, err := decodeString(`{"name":"` + strings.Repeat("x", maxBodyBytes) + `"}`)
	require.ErrorIs(t, err, errBodyTooLarge)

	// Exactly 1 MiB is fine.
	body := `{"name":"` + strings.Repeat("x", maxBodyBytes-11) + `"}`
	require.Len(t, body, maxBodyBytes)
	_, err = decodeString(body)
	require.NoError(t, err)
}

// TestBodyTooLargeOverHTTP checks the 400 through the whole chain, for a
// route whose handler decodes a body.
func TestBodyTooLargeOverHTTP(t *testing.T) {
	t.Parallel()
	s := &Server{}
	h := s.observe(s.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		var v sampleBody
		if err := decodeJSON(w, r, &v); err != nil {
			s.writeError(w, r, err)
		}
	})))
	s.once.Do(s.init)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat(" ", maxBodyBytes+1))))
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.JSONEq(t, `{"error":{"code":"body_too_large","message":"the request body is over 1 MiB"}}`, rec.Body.String())
}
