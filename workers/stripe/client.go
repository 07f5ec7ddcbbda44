// Package stripe adapts Stripe (through stripe-go v76) to what subsd needs
// of it: off-session PaymentIntents for invoice charges, customers with a
// saved payment method, refunds, and verified webhook events. It speaks in
// its own small types, so nothing outside this package imports stripe-go,
// and it maps Stripe's errors onto four kinds a worker can act on (Error).
//
// It also owns the webhook inbox (Inbox): the table that remembers which
// Stripe events have been received and applied, so a redelivered event is
// recognised.
//
// Every object created here carries metadata invoice_id, customer_id and
// subscription_id (API.md), and payment_id on a PaymentIntent: that is how
// webhook events are matched to an invoice's attempt. Every POST carries an
// idempotency key the caller derives from a stored id, never one made up per
// process, so a retried job gets Stripe's first answer instead of a second
// charge (DESIGN.md point 5). Stripe keeps idempotency keys for at least 24
// hours; FindPaymentIntent covers a retry later than that.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	stripego "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// Config configures a Client.
type Config struct {
	// SecretKey is the API key (sk_... or rk_...). Required.
	SecretKey string
	// APIBase is the API's base URL; empty means Stripe's own
	// (https://api.stripe.com). Point it at stripe-mock in development.
	APIBase string
	// WebhookSecret is the endpoint's signing secret (whsec_...), needed by
	// VerifyWebhook only.
	WebhookSecret string
	// HTTPClient makes the requests; nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that failed
	// on the network, with a 409, 429 or 5xx, always with the same
	// idempotency key; 0 means 2, negative means none.
	MaxNetworkRetries int
	// Logger receives stripe-go's own messages (at debug level, except its
	// errors at warn). Nil discards them.
	Logger *slog.Logger
}

// Client calls Stripe. It is safe for concurrent use.
type Client struct {
	api           *client.API
	webhookSecret string
}

// New returns a Client for cfg. It fails on a missing key or a malformed
// APIBase; it does not call Stripe.
func New(cfg Config) (*Client, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: a secret key is required")
	}
	httpClient := cfg.HTTPClient
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	retries := int64(cfg.MaxNetworkRetries)
	switch {
	case retries == 0:
		retries = stripego.DefaultMaxNetworkRetries
	case retries < 0:
		retries = 0
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	backend := func(t stripego.SupportedBackend, base string) stripego.Backend {
		// One config per backend: GetBackendWithConfig fills in the URL of
		// the config it is given, so a shared one would point every backend
		// at the first's URL.
		bc := &stripego.BackendConfig{
			HTTPClient:        httpClient,
			LeveledLogger:     leveledLogger{logger},
			MaxNetworkRetries: stripego.Int64(retries),
			EnableTelemetry:   stripego.Bool(false),
		}
		if base != "" {
			bc.URL = stripego.String(base)
		}
		return stripego.GetBackendWithConfig(t, bc)
	}
	base := strings.TrimRight(cfg.APIBase, "/")
	if base != "" {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("stripe: API base must be an http(s) URL, got %q", cfg.APIBase)
		}
	}
	backends := &stripego.Backends{
		API:     backend(stripego.APIBackend, base),
		Connect: backend(stripego.ConnectBackend, base),
		Uploads: backend(stripego.UploadsBackend, base),
	}
	return &Client{api: client.New(cfg.SecretKey, backends), webhookSecret: cfg.WebhookSecret}, nil
}

// Metadata is what subsd writes on every Stripe object it creates, and reads
// back from webhook events to find the invoice and attempt they concern.
type Metadata struct {
	InvoiceID      string
	CustomerID     string
	SubscriptionID string
	// PaymentID is the attempt's payment id (on PaymentIntents only).
	PaymentID string
	// RefundID is subsd's refund command id (on refunds only).
	RefundID string
}

// The metadata keys.
const (
	metaInvoiceID      = "invoice_id"
	metaCustomerID     = "customer_id"
	metaSubscriptionID = "subscription_id"
	metaPaymentID      = "payment_id"
	metaRefundID       = "refund_id"
)

func (m Metadata) params() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{
		metaInvoiceID: m.InvoiceID, metaCustomerID: m.CustomerID, metaSubscriptionID: m.SubscriptionID,
		metaPaymentID: m.PaymentID, metaRefundID: m.RefundID,
	} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func metadataFrom(m map[string]string) Metadata {
	return Metadata{
		InvoiceID: m[metaInvoiceID], CustomerID: m[metaCustomerID], SubscriptionID: m[metaSubscriptionID],
		PaymentID: m[metaPaymentID], RefundID: m[metaRefundID],
	}
}

// PaymentRequest is one off-session charge of a saved payment method.
type PaymentRequest struct {
	// Amount is in minor units, Currency an ISO 4217 code (either case).
	Amount   int64
	Currency string
	// Customer is the Stripe customer ("cus_..."); PaymentMethod the saved
	// payment method ("pm_..."), which must be attached to it.
	Customer      string
	PaymentMethod string
	// Description shows in the Stripe dashboard (the invoice number).
	Description string
	Metadata    Metadata
	// IdempotencyKey is required: the attempt's payment id.
	IdempotencyKey string
}

// PaymentIntentStatus is Stripe's PaymentIntent status.
type PaymentIntentStatus string

// The PaymentIntent statuses subsd tells apart. For an off-session
// confirmation, succeeded and processing are answers; requires_payment_method
// after a decline comes with a card error instead (see Error); anything else
// is left to the webhook.
const (
	StatusSucceeded             PaymentIntentStatus = "succeeded"
	StatusProcessing            PaymentIntentStatus = "processing"
	StatusRequiresPaymentMethod PaymentIntentStatus = "requires_payment_method"
	StatusRequiresAction        PaymentIntentStatus = "requires_action"
	StatusCanceled              PaymentIntentStatus = "canceled"
)

// PaymentIntent is the part of a Stripe PaymentIntent subsd uses.
type PaymentIntent struct {
	ID       string
	Status   PaymentIntentStatus
	Amount   int64
	Currency string // upper case
	Customer string
	Metadata Metadata
	// LastError is last_payment_error: why the latest confirmation failed.
	LastError *PaymentError
}

// PaymentError is a PaymentIntent's last_payment_error.
type PaymentError struct {
	// Code is Stripe's error code (card_declined, ...); DeclineCode the
	// issuer's reason for a card, empty otherwise.
	Code        string
	DeclineCode string
	Message     string
}

// FailureCode returns the most specific code: the decline code, else the
// error code.
func (e *PaymentError) FailureCode() string {
	if e == nil {
		return ""
	}
	if e.DeclineCode != "" {
		return e.DeclineCode
	}
	return e.Code
}

// CreatePaymentIntent creates and confirms an off-session PaymentIntent.
// With the same IdempotencyKey within Stripe's retention (24 hours or more)
// it returns the first answer, the same PaymentIntent, whatever happened in
// between. A declined charge is an *Error of KindDeclined (with the
// PaymentIntent's id when Stripe made one), not a PaymentIntent.
func (c *Client) CreatePaymentIntent(ctx context.Context, req PaymentRequest) (PaymentIntent, error) {
	if req.IdempotencyKey == "" {
		return PaymentIntent{}, errors.New("stripe: CreatePaymentIntent needs an idempotency key")
	}
	p := &stripego.PaymentIntentParams{
		Amount:   stripego.Int64(req.Amount),
		Currency: stripego.String(strings.ToLower(req.Currency)),
		// Off session: the customer is not there to be redirected or to
		// authenticate, so redirect-based methods are refused up front and
		// a charge that needs authentication fails (authentication_required).
		AutomaticPaymentMethods: &stripego.PaymentIntentAutomaticPaymentMethodsParams{
			Enabled: stripego.Bool(true), AllowRedirects: stripego.String("never"),
		},
		PaymentMethod: stripego.String(req.PaymentMethod),
		OffSession:    stripego.Bool(true),
		Confirm:       stripego.Bool(true),
		Metadata:      req.Metadata.params(),
	}
	if req.Customer != "" {
		p.Customer = stripego.String(req.Customer)
	}
	if req.Description != "" {
		p.Description = stripego.String(req.Description)
	}
	p.Context = ctx
	p.SetIdempotencyKey(req.IdempotencyKey)
	pi, err := c.api.PaymentIntents.New(p)
	if err != nil {
		return PaymentIntent{}, classify("creating a payment intent", err)
	}
	return paymentIntentFrom(pi), nil
}

// PaymentIntent retrieves a PaymentIntent by id.
func (c *Client) PaymentIntent(ctx context.Context, id string) (PaymentIntent, error) {
	p := &stripego.PaymentIntentParams{}
	p.Context = ctx
	pi, err := c.api.PaymentIntents.Get(id, p)
	if err != nil {
		return PaymentIntent{}, classify("retrieving payment intent "+id, err)
	}
	return paymentIntentFrom(pi), nil
}

// FindPaymentIntent looks for the PaymentIntent made for a payment id,
// through Stripe's search on metadata. A job retried after Stripe forgot
// its idempotency key (24 hours) asks this before creating another. Search
// is eventually consistent (about a minute), which is why it backs up the
// idempotency key instead of replacing it.
func (c *Client) FindPaymentIntent(ctx context.Context, paymentID string) (PaymentIntent, bool, error) {
	p := &stripego.PaymentIntentSearchParams{}
	p.Query = fmt.Sprintf("metadata['%s']:'%s'", metaPaymentID, paymentID)
	p.Context = ctx
	it := c.api.PaymentIntents.Search(p)
	for it.Next() {
		pi := paymentIntentFrom(it.PaymentIntent())
		// The search's answer is checked, not trusted: only an intent that
		// names this payment is this payment's.
		if pi.Metadata.PaymentID == paymentID {
			return pi, true, nil
		}
	}
	if err := it.Err(); err != nil {
		return PaymentIntent{}, false, classify("searching payment intents", err)
	}
	return PaymentIntent{}, false, nil
}

func paymentIntentFrom(pi *stripego.PaymentIntent) PaymentIntent {
	if pi == nil {
		return PaymentIntent{}
	}
	out := PaymentIntent{
		ID: pi.ID, Status: PaymentIntentStatus(pi.Status), Amount: pi.Amount,
		Currency: strings.ToUpper(string(pi.Currency)), Metadata: metadataFrom(pi.Metadata),
	}
	if pi.Customer != nil {
		out.Customer = pi.Customer.ID
	}
	if e := pi.LastPaymentError; e != nil {
		out.LastError = &PaymentError{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
	}
	return out
}

// CustomerRequest creates the Stripe customer of a subsd customer.
type CustomerRequest struct {
	// CustomerID is subsd's id (metadata.customer_id).
	CustomerID string
	// Name and Email help staff find the customer in the Stripe dashboard;
	// either may be empty (after erasure, say).
	Name  string
	Email string
	// PaymentMethod, when set, is attached to the new customer and made its
	// default for one-off charges.
	PaymentMethod string
	// IdempotencyKey is required: derived from CustomerID, so that two
	// workers charging the same new customer create one Stripe customer.
	IdempotencyKey string
}

// CreateCustomer creates a Stripe customer and returns its id.
func (c *Client) CreateCustomer(ctx context.Context, req CustomerRequest) (string, error) {
	if req.IdempotencyKey == "" {
		return "", errors.New("stripe: CreateCustomer needs an idempotency key")
	}
	p := &stripego.CustomerParams{Metadata: Metadata{CustomerID: req.CustomerID}.params()}
	if req.Name != "" {
		p.Name = stripego.String(req.Name)
	}
	if req.Email != "" {
		p.Email = stripego.String(req.Email)
	}
	if req.PaymentMethod != "" {
		p.PaymentMethod = stripego.String(req.PaymentMethod)
		p.InvoiceSettings = &stripego.CustomerInvoiceSettingsParams{DefaultPaymentMethod: stripego.String(req.PaymentMethod)}
	}
	p.Context = ctx
	p.SetIdempotencyKey(req.IdempotencyKey)
	cus, err := c.api.Customers.New(p)
	if err != nil {
		return "", classify("creating a customer", err)
	}
	return cus.ID, nil
}

// DefaultPaymentMethod returns the customer's default payment method for
// charges outside a subscription ("" when there is none).
func (c *Client) DefaultPaymentMethod(ctx context.Context, customer string) (string, error) {
	p := &stripego.CustomerParams{}
	p.Context = ctx
	cus, err := c.api.Customers.Get(customer, p)
	if err != nil {
		return "", classify("retrieving customer "+customer, err)
	}
	if cus.InvoiceSettings != nil && cus.InvoiceSettings.DefaultPaymentMethod != nil {
		return cus.InvoiceSettings.DefaultPaymentMethod.ID, nil
	}
	return "", nil
}

// EnsureAttached makes sure the payment method belongs to the customer,
// attaching it when it belongs to no one. A payment method of another
// customer is an *Error of KindInvalid with code
// payment_method_customer_mismatch: charging it would fail anyway.
func (c *Client) EnsureAttached(ctx context.Context, paymentMethod, customer string) error {
	gp := &stripego.PaymentMethodParams{}
	gp.Context = ctx
	pm, err := c.api.PaymentMethods.Get(paymentMethod, gp)
	if err != nil {
		return classify("retrieving payment method "+paymentMethod, err)
	}
	switch {
	case pm.Customer != nil && pm.Customer.ID == customer:
		return nil
	case pm.Customer != nil && pm.Customer.ID != "":
		return &Error{Kind: KindInvalid, Code: "payment_method_customer_mismatch",
			Message: fmt.Sprintf("payment method %s belongs to another Stripe customer", paymentMethod)}
	}
	ap := &stripego.PaymentMethodAttachParams{Customer: stripego.String(customer)}
	ap.Context = ctx
	ap.SetIdempotencyKey("attach-" + paymentMethod + "-" + customer)
	if _, err := c.api.PaymentMethods.Attach(paymentMethod, ap); err != nil {
		return classify("attaching payment method "+paymentMethod, err)
	}
	return nil
}

// RefundRequest refunds (part of) a PaymentIntent's charge.
type RefundRequest struct {
	PaymentIntentID string
	// Amount in minor units; 0 refunds everything not yet refunded.
	Amount   int64
	Metadata Metadata
	// IdempotencyKey is required: the refund command's id.
	IdempotencyKey string
}

// Refund is the part of a Stripe refund subsd uses.
type Refund struct {
	ID              string
	PaymentIntentID string
	ChargeID        string
	Amount          int64
	Currency        string // upper case
	// Status is pending, requires_action, succeeded, failed or canceled.
	Status   string
	Metadata Metadata
}

// Refund creates a refund. With the same IdempotencyKey it returns the first
// answer: one refund per refund command.
func (c *Client) Refund(ctx context.Context, req RefundRequest) (Refund, error) {
	if req.IdempotencyKey == "" {
		return Refund{}, errors.New("stripe: Refund needs an idempotency key")
	}
	p := &stripego.RefundParams{PaymentIntent: stripego.String(req.PaymentIntentID), Metadata: req.Metadata.params()}
	if req.Amount > 0 {
		p.Amount = stripego.Int64(req.Amount)
	}
	p.Context = ctx
	p.SetIdempotencyKey(req.IdempotencyKey)
	r, err := c.api.Refunds.New(p)
	if err != nil {
		return Refund{}, classify("creating a refund", err)
	}
	return refundFrom(r), nil
}

// Refunds lists the refunds of a PaymentIntent (the first 100, newest
// first: far more than one invoice ever has).
func (c *Client) Refunds(ctx context.Context, paymentIntentID string) ([]Refund, error) {
	p := &stripego.RefundListParams{PaymentIntent: stripego.String(paymentIntentID)}
	p.Limit = stripego.Int64(100)
	p.Single = true
	p.Context = ctx
	it := c.api.Refunds.List(p)
	var out []Refund
	for it.Next() {
		out = append(out, refundFrom(it.Refund()))
	}
	if err := it.Err(); err != nil {
		return nil, classify("listing the refunds of "+paymentIntentID, err)
	}
	return out, nil
}

func refundFrom(r *stripego.Refund) Refund {
	out := Refund{ID: r.ID, Amount: r.Amount, Currency: strings.ToUpper(string(r.Currency)), Status: string(r.Status), Metadata: metadataFrom(r.Metadata)}
	if r.PaymentIntent != nil {
		out.PaymentIntentID = r.PaymentIntent.ID
	}
	if r.Charge != nil {
		out.ChargeID = r.Charge.ID
	}
	return out
}

// leveledLogger sends stripe-go's log lines to slog. Its errors are logged
// at warn: the caller gets the same error and decides how bad it is.
type leveledLogger struct{ l *slog.Logger }

func (l leveledLogger) Debugf(format string, v ...any) { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l leveledLogger) Infof(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l leveledLogger) Warnf(format string, v ...any)  { l.l.Debug(fmt.Sprintf(format, v...)) }
func (l leveledLogger) Errorf(format string, v ...any) { l.l.Warn(fmt.Sprintf(format, v...)) }
