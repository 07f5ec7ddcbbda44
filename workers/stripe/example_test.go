package stripe_test

import (
	"fmt"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/subsd/subsd/workers/stripe"
)

// A webhook delivery is verified with the endpoint's signing secret before
// anything in it is believed; the event then names the invoice and payment
// attempt it concerns through the PaymentIntent's metadata.
func ExampleVerifyWebhook() {
	const secret = "whsec_example"
	body := []byte(`{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded", "api_version": "2023-10-16",
		"created": 1763719200, "data": {"object": {"id": "pi_1", "object": "payment_intent", "status": "succeeded",
		"amount": 2500, "currency": "eur", "metadata": {"invoice_id": "inv_1", "payment_id": "pay_1"}}}}`)
	// What Stripe sends along: t=<unix time>,v1=<HMAC-SHA256 of "t.body">.
	header := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now()}).Header

	e, err := stripe.VerifyWebhook(body, header, secret)
	if err != nil {
		panic(err)
	}
	fmt.Println(e.Type, e.PaymentIntent.ID, e.PaymentIntent.Status, e.PaymentIntent.Metadata.InvoiceID, e.PaymentIntent.Metadata.PaymentID)

	_, err = stripe.VerifyWebhook(body, header, "whsec_another")
	fmt.Println(err != nil)
	// Output:
	// payment_intent.succeeded pi_1 succeeded inv_1 pay_1
	// true
}
