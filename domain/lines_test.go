package domain_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

// plLine is a one-line helper for the PriceLines tables.
func plLine(qty int, unit int64) domain.Line {
	return domain.Line{ProductID: "prod-1", Name: "Coffee beans", Quantity: qty, UnitPrice: domain.Cents(unit)}
}

func plAmounts(ls []domain.PricedLine, f func(domain.PricedLine) domain.Money) []int64 {
	out := make([]int64, len(ls))
	for i, l := range ls {
		out[i] = f(l).Amount()
	}
	return out
}

func TestPriceLines(t *testing.T) {
	t.Parallel()
	included := domain.Line{ProductID: "filter", Name: "Water filter", Quantity: 1, UnitPrice: domain.Cents(0), IncludedInPlan: true}
	tests := []struct {
		name     string
		lines    []domain.Line
		discount int64 // -1: the zero Money (no discount given)
		rate     domain.VATRate
		// wanted per line, then in total
		discounts, nets, vats []int64
		subtotal, total, vat  int64
	}{
		{"NL 21%: 12.10 holds 2.10", []domain.Line{plLine(1, 1210)}, -1, 2100,
			[]int64{0}, []int64{1210}, []int64{210}, 1210, 1210, 210},
		{"DE 19% of 19.99 = 3.1916 → 3.19", []domain.Line{plLine(1, 1999)}, -1, 1900,
			[]int64{0}, []int64{1999}, []int64{319}, 1999, 1999, 319},
		{"FR 20% of 19.99 = 3.3317 → 3.33", []domain.Line{plLine(1, 1999)}, -1, 2000,
			[]int64{0}, []int64{1999}, []int64{333}, 1999, 1999, 333},
		{"FR 20%: exactly half a cent rounds up", []domain.Line{plLine(1, 3)}, -1, 2000,
			[]int64{0}, []int64{3}, []int64{1}, 3, 3, 1},
		{"FR 20%: exactly 2.5 cents rounds up, not to even", []domain.Line{plLine(1, 15)}, -1, 2000,
			[]int64{0}, []int64{15}, []int64{3}, 15, 15, 3},
		{"rounded once per line, not per unit: 3 × 3.33 at 20% = 1.665 → 1.67 (per unit would be 1.68)",
			[]domain.Line{plLine(3, 333)}, -1, 2000,
			[]int64{0}, []int64{999}, []int64{167}, 999, 999, 167},
		{"document VAT is the sum of rounded lines, never re-rounded: 3 × (0.03 → 0.005) = 0.03, not 0.02",
			[]domain.Line{plLine(1, 3), plLine(1, 3), plLine(1, 3)}, -1, 2000,
			[]int64{0, 0, 0}, []int64{3, 3, 3}, []int64{1, 1, 1}, 9, 9, 3},
		{"discount spread in proportion, leftover cent to the largest remainder",
			// 500 × 2420/3419 = 353.90, 500 × 999/3419 = 146.10: floors 353+146 = 499,
			// the leftover cent goes to line 0 (remainder .90 beats .10).
			[]domain.Line{plLine(2, 1210), plLine(1, 999)}, 500, 2100,
			[]int64{354, 146}, []int64{2066, 853}, []int64{359, 148}, 3419, 2919, 507},
		{"equal remainders: leftover cents go to the earlier lines",
			[]domain.Line{plLine(1, 1), plLine(1, 1), plLine(1, 1)}, 2, 2100,
			[]int64{1, 1, 0}, []int64{0, 0, 1}, []int64{0, 0, 0}, 3, 1, 0},
		{"an included product last gets no discount and never goes negative",
			[]domain.Line{plLine(1, 1000), included}, 999, 2100,
			[]int64{999, 0}, []int64{1, 0}, []int64{0, 0}, 1000, 1, 0},
		{"an included product first as well",
			[]domain.Line{included, plLine(2, 1)}, 1, 2100,
			[]int64{0, 1}, []int64{0, 1}, []int64{0, 0}, 2, 1, 0},
		{"only included products: everything zero",
			[]domain.Line{included, included}, -1, 2100,
			[]int64{0, 0}, []int64{0, 0}, []int64{0, 0}, 0, 0, 0},
		{"a discount of the whole subtotal leaves nothing and no VAT",
			[]domain.Line{plLine(1, 1210), plLine(3, 500)}, 2710, 2100,
			[]int64{1210, 1500}, []int64{0, 0}, []int64{0, 0}, 2710, 0, 0},
		{"an explicit zero discount is no discount",
			[]domain.Line{plLine(1, 1210)}, 0, 2100,
			[]int64{0}, []int64{1210}, []int64{210}, 1210, 1210, 210},
		{"VAT on the discounted amount at 19%: 20.00 − 2.00 = 18.00 → 2.874 → 2.87",
			[]domain.Line{plLine(1, 2000)}, 200, 1900,
			[]int64{200}, []int64{1800}, []int64{287}, 2000, 1800, 287},
		{"rate 0: no VAT", []domain.Line{plLine(2, 999)}, -1, 0,
			[]int64{0}, []int64{1998}, []int64{0}, 1998, 1998, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d domain.Money
			if tt.discount >= 0 {
				d = domain.Cents(tt.discount)
			}
			p, err := domain.PriceLines("items", tt.lines, d, tt.rate)
			require.NoError(t, err)
			require.Equal(t, tt.discounts, plAmounts(p.Lines, func(l domain.PricedLine) domain.Money { return l.Discount }), "discounts")
			require.Equal(t, tt.nets, plAmounts(p.Lines, func(l domain.PricedLine) domain.Money { return l.Net }), "nets")
			require.Equal(t, tt.vats, plAmounts(p.Lines, func(l domain.PricedLine) domain.Money { return l.VAT }), "vats")
			require.Equal(t, domain.Cents(tt.subtotal), p.Subtotal)
			require.Equal(t, domain.Cents(tt.total), p.Total)
			require.Equal(t, domain.Cents(tt.vat), p.VAT)
			require.Equal(t, tt.rate, p.VATRate)
			if tt.discount < 0 {
				require.Equal(t, domain.Cents(0), p.Discount, "no discount is zero EUR, never a Money without a currency")
			}
			for i, l := range p.Lines {
				require.Equal(t, tt.lines[i].UnitPrice.Amount()*int64(tt.lines[i].Quantity), l.Total.Amount())
			}
		})
	}
}

func TestPriceLinesKeepsTheLine(t *testing.T) {
	t.Parallel()
	p, err := domain.PriceLines("items", []domain.Line{{ProductID: "beans", Name: "  Coffee beans ", Quantity: 2, UnitPrice: domain.Cents(1210)}}, domain.Money{}, 2100)
	require.NoError(t, err)
	require.Equal(t, []domain.PricedLine{{
		ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210),
		Total: domain.Cents(2420), Discount: domain.Cents(0), Net: domain.Cents(2420), VAT: domain.Cents(420),
	}}, p.Lines)

	usd, err := domain.NewMoney(1000, "USD")
	require.NoError(t, err)
	p, err = domain.PriceLines("lines", []domain.Line{{Name: "Plan", Quantity: 1, UnitPrice: usd}}, domain.Money{}, 2000)
	require.NoError(t, err, "a line needs no product; any currency works when all lines share it")
	require.Equal(t, domain.Currency("USD"), p.Total.Currency())
	require.Equal(t, domain.Currency("USD"), p.Discount.Currency())
	require.Equal(t, domain.Currency("USD"), p.VAT.Currency())
}

func TestPriceLinesRefuses(t *testing.T) {
	t.Parallel()
	usd, err := domain.NewMoney(100, "USD")
	require.NoError(t, err)
	many := make([]domain.Line, domain.MaxLines+1)
	for i := range many {
		many[i] = plLine(1, 100)
	}
	tests := []struct {
		name     string
		lines    []domain.Line
		discount domain.Money
		rate     domain.VATRate
		err      error
		field    string
	}{
		{"no lines", nil, domain.Money{}, 2100, domain.ErrInvalid, "items"},
		{"too many lines", many, domain.Money{}, 2100, domain.ErrInvalid, "items"},
		{"bad product id", []domain.Line{{ProductID: "bad id", Name: "x", Quantity: 1, UnitPrice: domain.Cents(1)}}, domain.Money{}, 2100, domain.ErrInvalid, "items[0].product_id"},
		{"no name", []domain.Line{plLine(1, 1), {Name: " ", Quantity: 1, UnitPrice: domain.Cents(1)}}, domain.Money{}, 2100, domain.ErrInvalid, "items[1].name"},
		{"zero quantity", []domain.Line{plLine(1, 1), plLine(0, 1)}, domain.Money{}, 2100, domain.ErrInvalid, "items[1].quantity"},
		{"negative quantity", []domain.Line{plLine(-1, 1)}, domain.Money{}, 2100, domain.ErrInvalid, "items[0].quantity"},
		{"quantity above the limit", []domain.Line{plLine(domain.MaxQuantity+1, 1)}, domain.Money{}, 2100, domain.ErrInvalid, "items[0].quantity"},
		{"negative unit price", []domain.Line{plLine(1, -1)}, domain.Money{}, 2100, domain.ErrInvalid, "items[0].unit_price.amount"},
		{"no unit price", []domain.Line{{Name: "x", Quantity: 1}}, domain.Money{}, 2100, domain.ErrInvalid, "items[0].unit_price"},
		{"mixed currencies", []domain.Line{plLine(1, 1), {Name: "x", Quantity: 1, UnitPrice: usd}}, domain.Money{}, 2100, domain.ErrCurrencyMismatch, "items[1].unit_price.currency"},
		{"an included product with a price", []domain.Line{{Name: "x", Quantity: 1, UnitPrice: domain.Cents(1), IncludedInPlan: true}}, domain.Money{}, 2100, domain.ErrInvalid, "items[0].unit_price.amount"},
		{"line total overflows", []domain.Line{plLine(3, math.MaxInt64/2)}, domain.Money{}, 2100, domain.ErrAmountOverflow, "items[0].unit_price.amount"},
		{"subtotal overflows", []domain.Line{plLine(1, math.MaxInt64-1), plLine(1, 2)}, domain.Money{}, 2100, domain.ErrAmountOverflow, "items"},
		{"VAT overflows", []domain.Line{plLine(1, math.MaxInt64/2)}, domain.Money{}, 2100, domain.ErrAmountOverflow, "items[0].unit_price.amount"},
		{"discount above the subtotal", []domain.Line{plLine(2, 500)}, domain.Cents(1001), 2100, domain.ErrInvalid, "discount.amount"},
		{"negative discount", []domain.Line{plLine(2, 500)}, domain.Cents(-1), 2100, domain.ErrInvalid, "discount.amount"},
		{"discount in another currency", []domain.Line{plLine(2, 500)}, usd, 2100, domain.ErrCurrencyMismatch, "discount.currency"},
		{"a rate above 100%", []domain.Line{plLine(1, 1)}, domain.Money{}, 10001, domain.ErrInvalid, "rate_bp"},
		{"a negative rate", []domain.Line{plLine(1, 1)}, domain.Money{}, -1, domain.ErrInvalid, "rate_bp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := domain.PriceLines("items", tt.lines, tt.discount, tt.rate)
			require.ErrorIs(t, err, tt.err)
			var de *domain.Error
			require.True(t, errors.As(err, &de))
			require.Equal(t, tt.field, de.Field)
		})
	}
}

// TestPriceLinesInvariants prices random documents and checks what every
// order and invoice relies on: shares within [0, total], Σ shares = discount,
// Σ net = total, Σ VAT = VAT, each VAT rounded once from its net.
func TestPriceLinesInvariants(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 42))
	rates := []domain.VATRate{2100, 1900, 2000, 600, 0}
	for n := 0; n < 5000; n++ {
		lines := make([]domain.Line, 1+r.IntN(8))
		for i := range lines {
			price := int64(r.IntN(20_000))
			if r.IntN(5) == 0 {
				lines[i] = domain.Line{ProductID: "inc", Name: "Included", Quantity: 1 + r.IntN(3), UnitPrice: domain.Cents(0), IncludedInPlan: true}
				continue
			}
			lines[i] = domain.Line{ProductID: "p", Name: "P", Quantity: 1 + r.IntN(20), UnitPrice: domain.Cents(price)}
		}
		var sub int64
		for _, l := range lines {
			sub += l.UnitPrice.Amount() * int64(l.Quantity)
		}
		disc := int64(0)
		if sub > 0 {
			disc = r.Int64N(sub + 1)
		}
		rate := rates[r.IntN(len(rates))]
		p, err := domain.PriceLines("items", lines, domain.Cents(disc), rate)
		require.NoError(t, err)
		msg := fmt.Sprintf("case %d: %+v discount %d rate %d", n, lines, disc, rate)
		var shares, nets, vats int64
		for _, l := range p.Lines {
			require.GreaterOrEqual(t, l.Discount.Amount(), int64(0), msg)
			require.LessOrEqual(t, l.Discount.Amount(), l.Total.Amount(), msg)
			want, err := domain.IncludedVAT(l.Net, rate)
			require.NoError(t, err)
			require.Equal(t, want, l.VAT, msg)
			shares += l.Discount.Amount()
			nets += l.Net.Amount()
			vats += l.VAT.Amount()
		}
		require.Equal(t, disc, shares, msg)
		require.Equal(t, p.Total.Amount(), nets, msg)
		require.Equal(t, sub-disc, p.Total.Amount(), msg)
		require.Equal(t, p.VAT.Amount(), vats, msg)
	}
}

func TestVATRatesRateFor(t *testing.T) {
	t.Parallel()
	rates := domain.DefaultVATRates()
	nl := domain.Address{Street: "Damrak 1", Zipcode: "1012 LG", City: "Amsterdam", Country: "NL"}
	de := domain.Address{Street: "Unter den Linden 1", Zipcode: "10117", City: "Berlin", Country: "DE"}
	us := domain.Address{Street: "1 Main St", Zipcode: "10001", City: "New York", Country: "US"}

	rate, err := rates.RateFor(nl, nil)
	require.NoError(t, err)
	require.Equal(t, domain.VATRate(2100), rate, "without a shipping address the billing country counts")

	rate, err = rates.RateFor(nl, &de)
	require.NoError(t, err)
	require.Equal(t, domain.VATRate(1900), rate, "the shipping country counts")

	_, err = rates.RateFor(us, nil)
	require.ErrorIs(t, err, domain.ErrNoVATRate)
	require.Equal(t, "billing_address.country", err.(*domain.Error).Field)

	_, err = rates.RateFor(nl, &us)
	require.ErrorIs(t, err, domain.ErrNoVATRate)
	require.Equal(t, "shipping_address.country", err.(*domain.Error).Field)

	_, err = domain.VATRates{"NL": 20000}.RateFor(nl, nil)
	require.ErrorIs(t, err, domain.ErrInvalid, "a misconfigured rate is refused, not used")
}

func TestParseNumbers(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"ORD-000123", "ORD-000001", "ORD-999999", "ORD-1000000", "ORD-123456789012"} {
		n, err := domain.ParseOrderNumber(s)
		require.NoError(t, err, s)
		require.Equal(t, domain.OrderNumber(s), n)
	}
	for _, s := range []string{"", "ORD-", "ORD-123", "ORD-000000", "ORD-0000123", "ord-000123", "ORD-00012a", "ORD 000123", "ORD-1234567890123", "INV-2026-000042"} {
		_, err := domain.ParseOrderNumber(s)
		require.ErrorIs(t, err, domain.ErrInvalid, s)
		require.Equal(t, "number", err.(*domain.Error).Field)
	}
	for _, s := range []string{"INV-2026-000042", "INV-2000-000001", "INV-2031-1234567"} {
		n, err := domain.ParseInvoiceNumber(s)
		require.NoError(t, err, s)
		require.Equal(t, domain.InvoiceNumber(s), n)
	}
	for _, s := range []string{"", "INV-2026-", "INV-2026-42", "INV-26-000042", "INV-1999-000042", "INV-2026-000000", "INV-2026-0000042", "INV-20x6-000042", "INV-2026000042", "ORD-000123", "inv-2026-000042"} {
		_, err := domain.ParseInvoiceNumber(s)
		require.ErrorIs(t, err, domain.ErrInvalid, s)
		require.Equal(t, "number", err.(*domain.Error).Field)
	}
}
