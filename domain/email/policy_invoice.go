package email

import (
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
)

func invoiceCustomerOf(e domain.Event) (domain.CustomerID, bool) {
	switch e := e.(type) {
	case invoice.Paid:
		return e.CustomerID, true
	case invoice.AttemptFailed:
		return e.CustomerID, true
	case invoice.Refunded:
		return e.CustomerID, true
	}
	return "", false
}

// invoice plans the payment emails:
//
//	invoice.paid            payment_receipt   at once; invoice number, amount paid
//	invoice.attempt_failed  payment_failed    at once; invoice number, amount due — only while the
//	                                          invoice is unpaid, and at most one per customer per
//	                                          PaymentFailedQuietPeriod
//	invoice.refunded        refund_issued     at once; invoice number, amount refunded
//
// The receipt follows invoice.paid, which happens once per invoice however
// many attempts succeeded. RetriesExhausted plans nothing here: the
// subscription it makes past_due cancels, and that plans the
// cancellation_confirmation.
func (p *planner) invoice(e invoice.Event) {
	inv := p.in.Invoice
	switch e := e.(type) {
	case invoice.Paid:
		amount := e.Amount
		p.plan(PaymentReceipt, string(e.InvoiceID), "Payment received for invoice "+string(e.Number),
			Data{InvoiceID: e.InvoiceID, InvoiceNumber: string(e.Number), SubscriptionID: e.SubscriptionID, OrderID: e.OrderID, Amount: &amount})
	case invoice.AttemptFailed:
		switch inv.Status {
		case invoice.StatusPaid, invoice.StatusRefunded, invoice.StatusVoid:
			return // another attempt paid it, or it is no longer owed
		}
		if last := p.in.LastPaymentFailedAt; !last.IsZero() && p.in.Cause.At.Sub(last) < PaymentFailedQuietPeriod {
			return
		}
		data := Data{InvoiceID: e.InvoiceID, InvoiceNumber: string(inv.Number), SubscriptionID: e.SubscriptionID, OrderID: inv.OrderID}
		subject := "Your payment failed"
		if inv.Amount != (domain.Money{}) {
			amount := inv.Amount
			data.Amount = &amount
			subject = "Your payment of " + amount.String() + " failed"
		}
		p.plan(PaymentFailed, string(e.InvoiceID), subject, data)
	case invoice.Refunded:
		amount := e.Amount
		p.plan(RefundIssued, string(e.InvoiceID), "We refunded "+amount.String()+" on invoice "+string(inv.Number),
			Data{InvoiceID: e.InvoiceID, InvoiceNumber: string(inv.Number), SubscriptionID: e.SubscriptionID, OrderID: inv.OrderID, Amount: &amount})
	}
}
