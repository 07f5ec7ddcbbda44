package projections

import (
	"context"
	"fmt"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
)

// invoicePage is GET /v1/invoices/{id}: every field of the invoice.
//
// Document:
//
//	{"id", "version" (the invoice stream's), "number", "status", "customer_id", "customer_name",
//	 "subscription_id"|null, "cycle"|null, "order_id"|null, "created_at", "due_on",
//	 "billing_address", "shipping_address"|null,
//	 "lines": [{product_id|null, name, quantity, unit_price, total, discount, net, vat, included_in_plan}],
//	 "subtotal", "discount", "vat": {rate_bp, amount}, "amount",
//	 "retries", "retry_pending", "next_retry_at", "retries_exhausted",
//	 "attempts": [{payment_id, number, status, payment_intent_id, amount, started_at, updated_at, decline_code, duplicate}],
//	 "paid_amount", "paid_at", "refunded_amount", "refunds": [{refund_id, amount, refunded_at}],
//	 "voided_at", "void_reason", "stripe_payment_intent_id", "pdf_url", "stripe_dashboard_url", "stripe_refund_url"}
type invoicePage struct{}

type invoicePageState struct {
	Version uint64        `json:"version"`
	Invoice invoice.State `json:"invoice"`
}

var invoicePageTypes = types(invoiceTypes...)

func (invoicePage) Name() string            { return "invoice" }
func (invoicePage) Version() int            { return 1 }
func (invoicePage) Handles(typ string) bool { return invoicePageTypes[typ] }
func (invoicePage) Indexes() []string       { return nil }

func (invoicePage) Apply(ctx context.Context, s *Session, e Event) error {
	ev, ok := e.Data.(invoice.Event)
	if !ok {
		return nil
	}
	id := idOf(e.StreamID, invoice.StreamPrefix)
	st, err := Get[invoicePageState](ctx, s, kindInvoice, id)
	if err != nil {
		return err
	}
	if st == nil {
		st = &invoicePageState{}
	}
	st.Version = e.Version
	st.Invoice = evolveInvoice(st.Invoice, ev, true)
	Put(s, kindInvoice, id, st)
	return nil
}

func (invoicePage) Render(kind, id string, state any) (Document, bool, error) {
	st, ok := state.(*invoicePageState)
	if !ok {
		return Document{}, false, fmt.Errorf("invoice: unexpected state %s %T", kind, state)
	}
	inv := &st.Invoice
	if !inv.Exists() {
		return Document{}, false, nil
	}
	w := &jsonWriter{b: make([]byte, 0, 2048)}
	w.obj()
	w.key("id")
	w.str(string(inv.ID))
	w.key("version")
	w.int(int64(st.Version))
	w.key("number")
	w.str(string(inv.Number))
	w.key("status")
	w.str(string(inv.Status))
	w.key("customer_id")
	w.str(string(inv.CustomerID))
	w.key("customer_name")
	w.str(inv.CustomerName)
	w.key("subscription_id")
	w.strOrNull(string(inv.SubscriptionID))
	w.key("cycle")
	if inv.Cycle > 0 {
		w.int(int64(inv.Cycle))
	} else {
		w.null()
	}
	w.key("order_id")
	w.strOrNull(string(inv.OrderID))
	w.key("created_at")
	w.time(inv.CreatedAt)
	w.key("due_on")
	w.date(inv.DueOn)
	w.key("billing_address")
	w.address(inv.BillingAddress)
	w.key("shipping_address")
	w.addressPtr(inv.ShippingAddress)
	w.key("lines")
	w.arr()
	for _, l := range inv.Lines {
		w.obj()
		w.key("product_id")
		w.strOrNull(string(l.ProductID))
		w.key("name")
		w.str(l.Name)
		w.key("quantity")
		w.int(int64(l.Quantity))
		w.key("unit_price")
		w.money(l.UnitPrice)
		w.key("total")
		w.money(l.Total)
		w.key("discount")
		w.money(l.Discount)
		w.key("net")
		w.money(l.Net)
		w.key("vat")
		w.money(l.VAT)
		w.key("included_in_plan")
		w.bool(l.IncludedInPlan)
		w.end()
	}
	w.endArr()
	cur := inv.Amount.Currency()
	w.key("subtotal")
	w.money(inv.Subtotal)
	w.key("discount")
	w.moneyOr(inv.Discount, cur)
	w.key("vat")
	w.obj()
	w.key("rate_bp")
	w.int(int64(inv.VAT.RateBP))
	w.key("amount")
	w.money(inv.VAT.Amount)
	w.end()
	w.key("amount")
	w.money(inv.Amount)
	w.key("retries")
	w.int(int64(inv.Retries))
	w.key("retry_pending")
	w.bool(inv.RetryPending)
	w.key("next_retry_at")
	w.timePtr(inv.NextRetryAt)
	w.key("retries_exhausted")
	w.bool(inv.RetriesExhausted)
	w.key("attempts")
	w.arr()
	for _, a := range inv.Attempts {
		w.obj()
		w.key("payment_id")
		w.str(string(a.PaymentID))
		w.key("number")
		w.int(int64(a.Number))
		w.key("status")
		w.str(string(a.Status))
		w.key("payment_intent_id")
		w.strOrNull(a.PaymentIntentID)
		w.key("amount")
		w.money(a.Amount)
		w.key("started_at")
		w.time(a.StartedAt)
		w.key("updated_at")
		w.time(a.At)
		w.key("decline_code")
		w.strOrNull(a.DeclineCode)
		w.key("duplicate")
		w.bool(a.Duplicate)
		w.end()
	}
	w.endArr()
	w.key("paid_amount")
	w.moneyOr(inv.PaidAmount, cur)
	w.key("paid_at")
	w.timePtr(inv.PaidAt)
	w.key("refunded_amount")
	w.moneyOr(inv.RefundedAmount, cur)
	w.key("refunds")
	w.arr()
	for _, r := range inv.Refunds {
		w.obj()
		w.key("refund_id")
		w.str(r.RefundID)
		w.key("amount")
		w.money(r.Amount)
		w.key("refunded_at")
		w.time(r.At)
		w.end()
	}
	w.endArr()
	w.key("voided_at")
	w.timePtr(inv.VoidedAt)
	w.key("void_reason")
	w.strOrNull(inv.VoidReason)
	w.key("stripe_payment_intent_id")
	w.strOrNull(inv.StripePaymentIntentID)
	w.key("pdf_url")
	w.str(invoicePDFURL(domain.InvoiceID(id)))
	w.key("stripe_dashboard_url")
	w.strOrNull(stripePayment(inv.StripePaymentIntentID))
	w.key("stripe_refund_url")
	w.strOrNull(stripePayment(inv.StripePaymentIntentID))
	w.end()
	return Document{JSON: w.bytes(), Version: st.Version, Parent: string(inv.CustomerID), SortAt: inv.CreatedAt}, true, nil
}
