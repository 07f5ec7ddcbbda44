package email_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
)

const inv = domain.InvoiceID("inv_1")

func openInvoice() invoice.State {
	return invoice.Fold(invoice.Created{
		InvoiceID: inv, Number: "INV-2026-000042", CustomerID: cus, CustomerName: "Ann de Vries", SubscriptionID: sub, Cycle: 2,
		Amount: domain.Cents(2495), CreatedAt: now,
	})
}

func withInvoice(s invoice.State) func(*email.PolicyInput) {
	return func(in *email.PolicyInput) { in.Invoice = s }
}

func TestPolicyInvoice(t *testing.T) {
	t.Parallel()
	failed := invoice.AttemptFailed{InvoiceID: inv, CustomerID: cus, SubscriptionID: sub, PaymentID: "pay_1", Attempt: 1, DeclineCode: "insufficient_funds", FailedAt: now}
	failedEmail := planOf(email.PaymentFailed, "invoice.attempt_failed", string(inv), "Your payment of 24.95 EUR failed",
		email.Data{InvoiceID: inv, InvoiceNumber: "INV-2026-000042", SubscriptionID: sub, Amount: ptr(domain.Cents(2495))})
	paid := openInvoice()
	paid.Status = invoice.StatusPaid

	tests := []struct {
		name string
		in   email.PolicyInput
		want []email.Command
	}{
		{
			name: "paid",
			in: input(invoice.Paid{InvoiceID: inv, Number: "INV-2026-000042", CustomerID: cus, SubscriptionID: sub, PaymentID: "pay_1", Amount: domain.Cents(2495), PaidAt: now},
				withInvoice(openInvoice())),
			want: []email.Command{planOf(email.PaymentReceipt, "invoice.paid", string(inv), "Payment received for invoice INV-2026-000042",
				email.Data{InvoiceID: inv, InvoiceNumber: "INV-2026-000042", SubscriptionID: sub, Amount: ptr(domain.Cents(2495))})},
		},
		{name: "a failed attempt", in: input(failed, withInvoice(openInvoice())), want: []email.Command{failedEmail}},
		{
			name: "a failed attempt 7 days after the last notice",
			in:   input(failed, withInvoice(openInvoice()), func(in *email.PolicyInput) { in.LastPaymentFailedAt = now.Add(-email.PaymentFailedQuietPeriod) }),
			want: []email.Command{failedEmail},
		},
		{
			name: "a failed attempt within 7 days of the last notice",
			in: input(failed, withInvoice(openInvoice()), func(in *email.PolicyInput) {
				in.LastPaymentFailedAt = now.Add(-email.PaymentFailedQuietPeriod + time.Second)
			}),
			want: nil,
		},
		{name: "a failed attempt on an invoice another attempt paid", in: input(failed, withInvoice(paid)), want: nil},
		{
			name: "refunded",
			in:   input(invoice.Refunded{InvoiceID: inv, CustomerID: cus, RefundID: "re_1", Amount: domain.Cents(1000), RefundedAt: now}, withInvoice(paid)),
			want: []email.Command{planOf(email.RefundIssued, "invoice.refunded", string(inv), "We refunded 10.00 EUR on invoice INV-2026-000042",
				email.Data{InvoiceID: inv, InvoiceNumber: "INV-2026-000042", Amount: ptr(domain.Cents(1000))})},
		},
		{name: "dunning given up plans nothing here", in: input(invoice.RetriesExhausted{InvoiceID: inv, CustomerID: cus}, withInvoice(openInvoice())), want: nil},
		{name: "a created invoice plans nothing", in: input(invoice.Created{InvoiceID: inv, CustomerID: cus}), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := email.Policy(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			for _, c := range got {
				_, err := email.Decide(email.State{}, c)
				require.NoError(t, err)
			}
		})
	}
}
