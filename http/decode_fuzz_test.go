package http

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/subsd/subsd/domain"
)

// The fuzz targets feed arbitrary bodies to the strict decoder, one target
// per command body type (the seed corpus is in testdata/fuzz/<target>; go
// test without -fuzz runs it). For every input, decoding must not panic; it
// must succeed or fail with a 400 *domain.Error (never an error that would
// be a 500); and what it accepts, encoding/json must decode to the same
// value (the strict checks only ever refuse).
//
// Run one with: go test ./http/ -run '^$' -fuzz '^FuzzDecodeCreateSubscription$' -fuzztime 30s

func fuzzDecode[T any](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var strict T
		err := decodeBody(body, &strict)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("decoding %q: %v is not a *domain.Error", body, err)
			}
			if statusOf(de.Kind) != http.StatusBadRequest || de.Code == "" || de.Message == "" {
				t.Fatalf("decoding %q: %#v is not a complete 400", body, de)
			}
			return
		}
		if len(body) == 0 || isBlank(body) {
			return
		}
		var loose T
		if err := json.Unmarshal(body, &loose); err != nil {
			t.Fatalf("strict accepted %q, encoding/json refused it: %v", body, err)
		}
		if !reflect.DeepEqual(strict, loose) {
			t.Fatalf("decoding %q: strict %+v, encoding/json %+v", body, strict, loose)
		}
	})
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

const (
	seedAddress = `{"street":"Main 1","zipcode":"1011 AB","city":"Amsterdam","country":"NL"}`
	seedMoney   = `{"amount":1250,"currency":"EUR"}`
)

func FuzzDecodeSample(f *testing.F) {
	fuzzDecode[sampleBody](f, `{"name":"Ann","items":[{"product_id":"p","quantity":1,"price":`+seedMoney+`}]}`)
}

func FuzzDecodeCreateCustomer(f *testing.F) {
	fuzzDecode[createCustomerRequest](f,
		`{"first_name":"Ann","last_name":"Lee","email":"ann@example.com","phone":"+31 6 1234 5678","address":`+seedAddress+`}`,
		`{"first_name":"Ann","address":{"street":1}}`,
		`{"first_name":"Ann","shipping_address":null,"nickname":"A"}`)
}

func FuzzDecodeUpdateCustomer(f *testing.F) {
	fuzzDecode[updateCustomerRequest](f,
		`{"email":"ann@example.org","phone":null,"shipping_address":`+seedAddress+`}`,
		`{"shipping_address":null}`,
		`{"phone":5}`)
}

func FuzzDecodeCreateSubscription(f *testing.F) {
	fuzzDecode[createSubscriptionRequest](f,
		`{"customer_id":"cus_1","plan":{"name":"Coffee","price":`+seedMoney+`,"interval":{"unit":"month","count":1}},"term_cycles":12,"delivery_method":"delivery","products":[{"product_id":"beans","name":"Beans","quantity":2,"interval":{"unit":"week","count":2},"first_shipment_on":"2026-11-21","price":null}]}`,
		`{"customer_id":"cus_1","plan":{"price":{"amount":12.5,"currency":"EUR"}}}`,
		`{"products":[{"product_id":"x","qty":1}]}`)
}

func FuzzDecodeCancelSubscription(f *testing.F) {
	fuzzDecode[cancelRequest](f, `{"at_period_end":true,"reason":"moving"}`, `{"at_period_end":"yes"}`)
}

func FuzzDecodeAddProduct(f *testing.F) {
	fuzzDecode[productRequest](f,
		`{"product_id":"mug","name":"Mug","quantity":1,"price":`+seedMoney+`}`,
		`{"product_id":"mug","first_shipment_on":"2026-02-30"}`)
}

func FuzzDecodeUpdateProduct(f *testing.F) {
	fuzzDecode[updateProductRequest](f, `{"interval":{"unit":"month","count":2},"next_shipment_on":"2026-12-01"}`, `{"interval":{"unit":"day"}}`)
}

func FuzzDecodeCreateOrder(f *testing.F) {
	fuzzDecode[createOrderRequest](f,
		`{"customer_id":"cus_1","items":[{"product_id":"mug","name":"Mug","quantity":2,"unit_price":`+seedMoney+`}],"delivery_method":"pickup","discount":{"amount":100,"currency":"EUR"},"billing_address":`+seedAddress+`}`,
		`{"items":[{"unit_price":{"amount":1,"currency":"eur"}}]}`)
}

func FuzzDecodeAddTracking(f *testing.F) {
	fuzzDecode[trackingRequest](f, `{"tracking_code":"3SABC","tracking_url":"https://track.example/3SABC","carrier":"PostNL"}`)
}

func FuzzDecodeEmailSettings(f *testing.F) {
	fuzzDecode[emailSettingsRequest](f,
		`{"track_and_trace_enabled":true,"charge_reminder_days_before":3,"from_name":"Shop","from_address":"shop@example.com"}`,
		`{"charge_reminder_days_before":-1}`)
}

func FuzzDecodeDunningSettings(f *testing.F) {
	fuzzDecode[dunningSettingsRequest](f, `{"retry_days":[1,3,5,7],"final_action":"cancel_at_period_end"}`, `{"retry_days":[1.5],"final_action":null}`)
}
