package pdf_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ledongthuc "github.com/ledongthuc/pdf"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/workers/pdf"
)

var (
	amsterdam, _ = time.LoadLocation("Europe/Amsterdam")
	seller       = pdf.Business{
		Name:      "Vivlab B.V.",
		Address:   domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 AA", City: "Amsterdam", Country: "NL"},
		VATNumber: "NL123456789B01",
		Email:     "billing@vivlab.example",
	}
	billing  = domain.Address{Street: "Rue de la Loi 16", Zipcode: "1000", City: "Bruxelles", Country: "BE"}
	shipping = domain.Address{Street: "Łąkowa 7", Zipcode: "90-562", City: "Łódź", Country: "PL"}
)

// anInvoice is a subscription shipment invoice with a discount, two lines
// and a different shipping address, paid and partly refunded.
func anInvoice(t testing.TB) invoice.State {
	t.Helper()
	priced, err := domain.PriceLines("lines", []domain.Line{
		{ProductID: "beans", Name: "Coffee beans, single origin Ethiopia Yirgacheffe, 1 kg", Quantity: 2, UnitPrice: domain.Cents(1210)},
		{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999)},
		{ProductID: "machine", Name: "Espresso machine", Quantity: 1, UnitPrice: domain.Cents(0), IncludedInPlan: true},
	}, domain.Cents(500), 2100)
	require.NoError(t, err)
	created := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC) // 2 March in Amsterdam
	paid := created.Add(2 * time.Hour)
	return invoice.Fold(
		invoice.Created{
			InvoiceID: "inv_pdf1", Number: "INV-2026-000042", CustomerID: "cus_1", CustomerName: "Zoë Kowalska",
			SubscriptionID: "sub_1", Cycle: 3, Lines: priced.Lines, Subtotal: priced.Subtotal, Discount: priced.Discount,
			Amount: priced.Total, VATRate: priced.VATRate, VAT: priced.VAT, BillingAddress: billing, ShippingAddress: &shipping,
			DueOn: domain.Date{Year: 2026, Month: 3, Day: 2}, CreatedAt: created,
		},
		invoice.Paid{InvoiceID: "inv_pdf1", Number: "INV-2026-000042", CustomerID: "cus_1", Amount: priced.Total, PaidAt: paid},
		invoice.Refunded{InvoiceID: "inv_pdf1", CustomerID: "cus_1", RefundID: "re_1", Amount: domain.Cents(999), RefundedTotal: domain.Cents(999), RefundedAt: paid},
	)
}

func renderer(t *testing.T, opts ...pdf.Option) *pdf.Renderer {
	t.Helper()
	r, err := pdf.New(seller, amsterdam, opts...)
	require.NoError(t, err)
	return r
}

// text returns the text of every page of a PDF, parsed by a PDF reader
// that shares no code with the writer: the document is well-formed, and
// its text is there as characters (embedded fonts with a ToUnicode map),
// not only as glyphs.
func text(t *testing.T, doc []byte) string {
	t.Helper()
	require.True(t, bytes.HasPrefix(doc, []byte("%PDF-")), "PDF header")
	require.Contains(t, string(doc[max(0, len(doc)-32):]), "%%EOF")
	r, err := ledongthuc.NewReader(bytes.NewReader(doc), int64(len(doc)))
	require.NoError(t, err)
	var b strings.Builder
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		rows, err := p.GetTextByRow()
		require.NoError(t, err)
		for _, row := range rows {
			for _, w := range row.Content {
				b.WriteString(w.S)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// squash removes the spaces a text extractor may or may not put between
// the runs of one line, so assertions compare characters only.
func squash(s string) string { return strings.Join(strings.Fields(s), "") }

func TestInvoice(t *testing.T) {
	t.Parallel()
	inv := anInvoice(t)
	doc, err := renderer(t).Invoice(inv)
	require.NoError(t, err)
	got := squash(text(t, doc))
	for _, want := range []string{
		"INVOICE", "INV-2026-000042",
		// The seller.
		"VivlabB.V.", "Keizersgracht1", "1015AAAmsterdam", "NL123456789B01",
		// The customer, billing and shipping, as typed.
		"ZoëKowalska", "RuedelaLoi16", "1000Bruxelles", "Belgium", "Łąkowa7", "90-562Łódź", "Poland",
		// The dates in the business time zone, and the subscription.
		"2March2026", "sub_1,cycle3",
		// The lines: quantity, unit price, discount share, VAT rate and amount, net.
		"Coffeebeans", "€12.10", "included", "21%", "€29.19",
	} {
		require.Contains(t, got, want)
	}
	// Every line's VAT and net amount, as the invoice holds them.
	for _, l := range inv.Lines {
		require.Contains(t, got, squash(fmtMoney(l.Net)), l.Name)
		require.Contains(t, got, squash(fmtMoney(l.VAT)), l.Name)
	}
	// Totals: subtotal, discount, net of VAT, VAT, total; paid and refunded.
	net, err := inv.Amount.Sub(inv.VAT.Amount)
	require.NoError(t, err)
	for _, want := range []string{
		"Subtotal" + fmtMoney(inv.Subtotal), "Discount-" + fmtMoney(inv.Discount),
		"TotalexcludingVAT" + fmtMoney(net), "VAT21%" + fmtMoney(inv.VAT.Amount), "Total" + fmtMoney(inv.Amount),
		"Paidon2March2026", "Refunded:€9.99",
	} {
		require.Contains(t, got, squash(want))
	}
}

func fmtMoney(m domain.Money) string {
	a := m.Amount()
	return fmt.Sprintf("€ %d.%02d", a/100, a%100)
}

func TestInvoiceManyLinesBreaksPages(t *testing.T) {
	t.Parallel()
	lines := make([]domain.Line, 120)
	for i := range lines {
		lines[i] = domain.Line{Name: fmt.Sprintf("Capsule pack %03d", i+1), Quantity: 1, UnitPrice: domain.Cents(100)}
	}
	priced, err := domain.PriceLines("lines", lines, domain.Money{}, 1900)
	require.NoError(t, err)
	inv := invoice.Fold(invoice.Created{
		InvoiceID: "inv_long", Number: "INV-2026-000043", CustomerID: "cus_1", CustomerName: "Ann de Vries",
		OrderID: "ord_1", Lines: priced.Lines, Subtotal: priced.Subtotal, Discount: domain.Cents(0), Amount: priced.Total,
		VATRate: 1900, VAT: priced.VAT, BillingAddress: billing, DueOn: domain.Date{Year: 2026, Month: 3, Day: 2},
		CreatedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC),
	})
	doc, err := renderer(t).Invoice(inv)
	require.NoError(t, err)
	r, err := ledongthuc.NewReader(bytes.NewReader(doc), int64(len(doc)))
	require.NoError(t, err)
	require.Greater(t, r.NumPage(), 1)
	got := squash(text(t, doc))
	require.Contains(t, got, "Capsulepack001")
	require.Contains(t, got, "Capsulepack120")
	require.Contains(t, got, squash(fmt.Sprintf("Page %d of %d", r.NumPage(), r.NumPage())))
	require.Contains(t, got, "Total€120.00")
	require.NotContains(t, got, "Discount-", "no discount row without a discount")
}

func TestInvoiceUnknown(t *testing.T) {
	t.Parallel()
	_, err := renderer(t).Invoice(invoice.State{})
	require.ErrorIs(t, err, pdf.ErrNoInvoice)
}

func TestReturnLabel(t *testing.T) {
	t.Parallel()
	doc, err := renderer(t).ReturnLabel(pdf.ReturnLabel{
		Code: "rl_4Vh1x9QzLm0PaB2cDeFg", CustomerName: "Zoë Kowalska", From: shipping,
		RequestedAt: time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC),
	})
	require.NoError(t, err)
	got := squash(text(t, doc))
	for _, want := range []string{"RETURN", "FROM", "ZoëKowalska", "Łąkowa7", "TO", "VivlabB.V.", "Keizersgracht1", "rl_4Vh1x9QzLm0PaB2cDeFg", "2March2026"} {
		require.Contains(t, got, want)
	}

	t.Run("a separate return address", func(t *testing.T) {
		t.Parallel()
		b := seller
		b.ReturnAddress = domain.Address{Street: "Returns dock 4", Zipcode: "3011 AA", City: "Rotterdam", Country: "NL"}
		r, err := pdf.New(b, amsterdam)
		require.NoError(t, err)
		doc, err := r.ReturnLabel(pdf.ReturnLabel{Code: "rl_2", CustomerName: "Ann", From: billing})
		require.NoError(t, err)
		got := squash(text(t, doc))
		require.Contains(t, got, "Returnsdock4")
		require.NotContains(t, got, "Keizersgracht")
	})

	for _, code := range []string{"", "has space", strings.Repeat("x", 65), "naïve"} {
		_, err := renderer(t).ReturnLabel(pdf.ReturnLabel{Code: code})
		require.ErrorIs(t, err, pdf.ErrBadReturnCode, code)
	}
}

func TestBusinessValidate(t *testing.T) {
	t.Parallel()
	_, err := pdf.New(pdf.Business{Address: seller.Address}, nil)
	require.ErrorContains(t, err, "name")
	_, err = pdf.New(pdf.Business{Name: "X", Address: domain.Address{Street: "s"}}, nil)
	require.ErrorContains(t, err, "address")
	b := seller
	b.ReturnAddress = domain.Address{City: "x"}
	_, err = pdf.New(b, nil)
	require.ErrorContains(t, err, "return address")
}

// TestWithoutSellerAddress: a business with a name and no address (serve
// without BUSINESS_ADDRESS) still gets its invoices and return labels, with
// the name and without an address block.
func TestWithoutSellerAddress(t *testing.T) {
	t.Parallel()
	r, err := pdf.New(pdf.Business{Name: "Vivlab B.V."}, amsterdam)
	require.NoError(t, err)
	doc, err := r.Invoice(anInvoice(t))
	require.NoError(t, err)
	got := squash(text(t, doc))
	require.Contains(t, got, "VivlabB.V.")
	require.Contains(t, got, "INV-2026-000042")
	require.NotContains(t, got, "Keizersgracht")
	doc, err = r.ReturnLabel(pdf.ReturnLabel{Code: "rl_3", CustomerName: "Ann", From: billing})
	require.NoError(t, err)
	got = squash(text(t, doc))
	require.Contains(t, got, "VivlabB.V.")
	require.Contains(t, got, "rl_3")
}

// TestPopplerReadsThem checks the documents with poppler's pdftotext too,
// the reader most Linux viewers share, where it is installed; the
// assertions above do not depend on it.
func TestPopplerReadsThem(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext (poppler-utils) is not installed")
	}
	inv, err := renderer(t).Invoice(anInvoice(t))
	require.NoError(t, err)
	label, err := renderer(t).ReturnLabel(pdf.ReturnLabel{Code: "rl_pop", CustomerName: "Zoë", From: billing})
	require.NoError(t, err)
	dir := t.TempDir()
	for name, doc := range map[string][]byte{"invoice": inv, "label": label} {
		in := filepath.Join(dir, name+".pdf")
		require.NoError(t, os.WriteFile(in, doc, 0o600))
		cmd := exec.Command(bin, "-layout", in, "-")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, stderr.String())
		require.Empty(t, stderr.String(), "pdftotext warnings")
		if name == "invoice" {
			require.Contains(t, string(out), "INV-2026-000042")
			require.Contains(t, string(out), "Zoë Kowalska")
		} else {
			require.Contains(t, string(out), "rl_pop")
		}
	}
}

func TestParseAddress(t *testing.T) {
	t.Parallel()
	a, err := pdf.ParseAddress(" Keizersgracht 1 ; 1015 AA;Amsterdam; nl")
	require.NoError(t, err)
	require.Equal(t, seller.Address, domain.Address{Street: a.Street, Zipcode: a.Zipcode, City: a.City, Country: a.Country})
	for _, bad := range []string{"", "Keizersgracht 1, 1015 AA Amsterdam", "a; b; c; Netherlands", "; 1015 AA; Amsterdam; NL"} {
		_, err := pdf.ParseAddress(bad)
		require.Error(t, err, bad)
	}
}

func BenchmarkInvoice(b *testing.B) {
	inv := anInvoice(b)
	r, err := pdf.New(seller, amsterdam)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Invoice(inv); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleRenderer_ReturnLabel() {
	r, err := pdf.New(pdf.Business{
		Name:    "Vivlab B.V.",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 AA", City: "Amsterdam", Country: "NL"},
	}, nil)
	if err != nil {
		panic(err)
	}
	doc, err := r.ReturnLabel(pdf.ReturnLabel{
		Code:         "rl_4Vh1x9QzLm0PaB2cDeFg",
		CustomerName: "Ann de Vries",
		From:         domain.Address{Street: "Rue de la Loi 16", Zipcode: "1000", City: "Bruxelles", Country: "BE"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(doc[:5]), pdf.ReturnLabelFileName("rl_4Vh1x9QzLm0PaB2cDeFg"))
	// Output: %PDF- return-label-rl_4Vh1x9QzLm0PaB2cDeFg.pdf
}
