package mail_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/workers/mail"
)

var amsterdam, _ = time.LoadLocation("Europe/Amsterdam")

func amount(cents int64) *domain.Money {
	m := domain.Cents(cents)
	return &m
}

// TestTemplates renders every email type with the data its policy row
// gives it (domain/email.Policy) and checks that both bodies carry that
// data, with dates in the business time zone.
func TestTemplates(t *testing.T) {
	t.Parallel()
	tpl, err := mail.NewTemplates(amsterdam)
	require.NoError(t, err)
	charge := time.Date(2026, 3, 31, 22, 30, 0, 0, time.UTC) // Wednesday 1 April in Amsterdam
	cases := map[email.Type]struct {
		data email.Data
		want []string
	}{
		email.SubscriptionConfirmation: {email.Data{PlanName: "Coffee Club", Amount: amount(2995), SubscriptionID: "sub_1"}, []string{"Coffee Club", "€29.95", "sub_1"}},
		email.OrderConfirmation:        {email.Data{OrderNumber: "ORD-000123", Amount: amount(4250)}, []string{"ORD-000123", "€42.50"}},
		email.ShippingConfirmation: {email.Data{OrderNumber: "ORD-000123", TrackingCode: "3SABC123", TrackingURL: "https://track.example/3SABC123", Carrier: "PostNL"},
			[]string{"ORD-000123", "3SABC123", "https://track.example/3SABC123", "PostNL"}},
		email.TrackAndTrace: {email.Data{OrderNumber: "ORD-000124", TrackingCode: "JVGL0001", TrackingURL: "https://track.example/JVGL0001", Carrier: "DHL"},
			[]string{"ORD-000124", "JVGL0001", "https://track.example/JVGL0001", "DHL"}},
		email.PickupConfirmation:       {email.Data{OrderNumber: "ORD-000125", PickedUpAt: charge}, []string{"ORD-000125", "Wednesday 1 April 2026 at 00:30"}},
		email.ChargeReminder:           {email.Data{PlanName: "Coffee Club", Amount: amount(2995), ChargeAt: charge}, []string{"Coffee Club", "€29.95", "Wednesday 1 April 2026"}},
		email.PaymentReceipt:           {email.Data{InvoiceNumber: "INV-2026-000042", Amount: amount(2995)}, []string{"INV-2026-000042", "€29.95", "attached"}},
		email.PaymentFailed:            {email.Data{InvoiceNumber: "INV-2026-000042", Amount: amount(2995), RetryAt: charge}, []string{"INV-2026-000042", "€29.95", "Wednesday 1 April 2026"}},
		email.RefundIssued:             {email.Data{InvoiceNumber: "INV-2026-000042", Amount: amount(1000)}, []string{"INV-2026-000042", "€10.00"}},
		email.CancellationConfirmation: {email.Data{PlanName: "Coffee Club", EndsAt: charge}, []string{"Coffee Club", "Wednesday 1 April 2026"}},
		email.ReturnLabel:              {email.Data{LabelID: "rl_4Vh1"}, []string{"rl_4Vh1", "attached"}},
	}
	require.Len(t, cases, len(email.Types()), "every type has a case")
	for typ, c := range cases {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			c.data.FirstName = "Zoë"
			v := mail.View{Business: "Vivlab", Subject: "Subject of " + string(typ), Data: c.data, Attachments: []string{"file.pdf"}}
			text, html, err := tpl.Render(typ, v)
			require.NoError(t, err)
			for _, body := range []string{text, html} {
				require.Contains(t, body, "Hi Zoë,")
				require.Contains(t, body, "Vivlab")
				require.NotContains(t, body, "<no value>")
				for _, w := range c.want {
					require.Contains(t, body, w)
				}
			}
			require.Contains(t, html, "<title>Subject of "+string(typ)+"</title>")
			require.NotContains(t, text, "<p>", "the text body has no markup")
			require.NotContains(t, text, "\n\n\n", "no runs of blank lines")

			// With nothing optional, both still render, without gaps.
			text, html, err = tpl.Render(typ, mail.View{Business: "Vivlab", Subject: "s"})
			require.NoError(t, err)
			require.Contains(t, text, "Hello,")
			require.Contains(t, html, "Hello,")
			require.NotContains(t, text, "€")
		})
	}
}

// TestTemplatesEscape: data cannot inject markup or script links into the
// HTML body.
func TestTemplatesEscape(t *testing.T) {
	t.Parallel()
	tpl, err := mail.NewTemplates(nil)
	require.NoError(t, err)
	_, html, err := tpl.Render(email.ShippingConfirmation, mail.View{
		Business: "Viv<b>lab</b>", Subject: "s",
		Data: email.Data{FirstName: "<script>alert(1)</script>", OrderNumber: "ORD-1", TrackingURL: "javascript:alert(1)", TrackingCode: "<i>x</i>"},
	})
	require.NoError(t, err)
	require.NotContains(t, html, "<script>")
	require.NotContains(t, html, "<i>x</i>")
	require.NotContains(t, html, "<b>lab</b>")
	require.NotContains(t, html, "javascript:")
	require.True(t, strings.Contains(html, "&lt;script&gt;"))
}

func TestTemplatesUnknownType(t *testing.T) {
	t.Parallel()
	tpl, err := mail.NewTemplates(nil)
	require.NoError(t, err)
	_, _, err = tpl.Render("postcard", mail.View{})
	require.Error(t, err)
}
