package domain

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"
)

// Limits on a priced document. They are far above any real cart and keep
// every amount computed from them inside int64.
const (
	// MaxLines is the most lines one order or invoice may have.
	MaxLines = 200
	// MaxQuantity is the most units of one line.
	MaxQuantity = 10_000
)

// Line is one line of a cart, order or invoice as it is asked for: what, how
// many, and the VAT-inclusive price of one unit. ProductID is optional (an
// invoice line for a plan charge names no product); callers that need one
// check it themselves.
//
// IncludedInPlan marks a subscribed product that the plan price already pays
// for: it ships on an order but costs nothing on it, so its UnitPrice must be
// zero. The flag is kept (rather than a bare zero price) so that the order
// page can say "included in plan" instead of "€0.00".
type Line struct {
	ProductID      ProductID `json:"product_id,omitempty"`
	Name           string    `json:"name"`
	Quantity       int       `json:"quantity"`
	UnitPrice      Money     `json:"unit_price"`
	IncludedInPlan bool      `json:"included_in_plan,omitempty"`
}

// PricedLine is a Line with every amount PriceLines computed for it. Events
// store it as is, so that folding history never recomputes a price.
//
//	Total    = UnitPrice × Quantity (what the order page shows per item)
//	Discount = this line's share of the document discount
//	Net      = Total − Discount (what is actually charged, VAT included)
//	VAT      = the VAT contained in Net, rounded half-up once
type PricedLine struct {
	ProductID      ProductID `json:"product_id,omitempty"`
	Name           string    `json:"name"`
	Quantity       int       `json:"quantity"`
	UnitPrice      Money     `json:"unit_price"`
	IncludedInPlan bool      `json:"included_in_plan,omitempty"`
	Total          Money     `json:"total"`
	Discount       Money     `json:"discount"`
	Net            Money     `json:"net"`
	VAT            Money     `json:"vat"`
}

// Priced is the outcome of PriceLines: the lines and the document totals.
// Invariants: Subtotal = Σ Lines.Total; Discount = Σ Lines.Discount;
// Total = Subtotal − Discount = Σ Lines.Net; VAT = Σ Lines.VAT.
type Priced struct {
	Lines    []PricedLine
	Subtotal Money
	Discount Money
	Total    Money
	VATRate  VATRate
	VAT      Money
}

// PriceLines prices a document (an order or an invoice) whose prices include
// VAT. field is the JSON path of the list in the request ("items", "lines"):
// validation errors name "items[2].quantity" and so on; discount errors name
// "discount.amount" / "discount.currency". The zero Money discount means none.
//
// The rule, written once here and used by every aggregate that prices lines:
//
//  1. Each line's Total is UnitPrice × Quantity; Subtotal is Σ Total.
//  2. The discount (0 ≤ discount ≤ Subtotal, same currency) is apportioned
//     over the lines in proportion to their Total by the largest-remainder
//     method: every line gets ⌊discount × Total / Subtotal⌋ and the cents
//     left over go one each to the lines with the largest remainders
//     (earlier lines first on a tie). Unlike "remainder on the last line",
//     this can never push a line below zero (a zero-priced included product
//     last in the list gets no discount at all), and the shares always add up
//     to the discount exactly.
//  3. Each line's VAT is IncludedVAT(Net, rate): computed on the discounted
//     amount, rounded half-up to the cent once per line. The document VAT is
//     the sum of the rounded line VATs and is never re-rounded, so it can
//     differ by a few cents from the VAT of the document total taken as one
//     amount; what is shown per line always adds up to what is shown in total.
//
// A discount is therefore not a separate negative line: it lowers each line's
// taxable amount, which is what the tax authorities of the countries we ship
// to expect for a discount granted at the time of sale.
func PriceLines(field string, lines []Line, discount Money, rate VATRate) (Priced, error) {
	if _, err := ParseVATRate(int64(rate)); err != nil {
		return Priced{}, err
	}
	if len(lines) == 0 {
		return Priced{}, Invalid(field, "at least one line is required")
	}
	if len(lines) > MaxLines {
		return Priced{}, Invalid(field, "at most %d lines are allowed, got %d", MaxLines, len(lines))
	}
	cur := lines[0].UnitPrice.Currency()
	out := Priced{Lines: make([]PricedLine, len(lines)), VATRate: rate, Subtotal: Zero(cur), VAT: Zero(cur)}
	totals := make([]int64, len(lines))
	for i, l := range lines {
		path := fmt.Sprintf("%s[%d]", field, i)
		if l.ProductID != "" {
			if _, err := ParseProductID(string(l.ProductID)); err != nil {
				return Priced{}, PrefixField(path, err)
			}
		}
		name := strings.TrimSpace(l.Name)
		if err := checkText("name", name, 200); err != nil {
			return Priced{}, PrefixField(path, err)
		}
		if l.Quantity < 1 || l.Quantity > MaxQuantity {
			return Priced{}, Invalid(path+".quantity", "quantity must be between 1 and %d, got %d", MaxQuantity, l.Quantity)
		}
		switch c := l.UnitPrice.Currency(); {
		case c == "":
			return Priced{}, Invalid(path+".unit_price", "unit price is required")
		case c != cur:
			return Priced{}, ErrCurrencyMismatch.WithField(path + ".unit_price.currency")
		}
		if l.UnitPrice.IsNegative() {
			return Priced{}, Invalid(path+".unit_price.amount", "unit price must not be negative, got %s", l.UnitPrice)
		}
		if l.IncludedInPlan && !l.UnitPrice.IsZero() {
			return Priced{}, Invalid(path+".unit_price.amount", "a product included in the plan has no price of its own, got %s", l.UnitPrice)
		}
		total, err := l.UnitPrice.Mul(int64(l.Quantity))
		if err != nil {
			return Priced{}, PrefixField(path+".unit_price.amount", err)
		}
		if out.Subtotal, err = out.Subtotal.Add(total); err != nil {
			return Priced{}, PrefixField(field, err)
		}
		totals[i] = total.Amount()
		out.Lines[i] = PricedLine{
			ProductID: l.ProductID, Name: name, Quantity: l.Quantity, UnitPrice: l.UnitPrice,
			IncludedInPlan: l.IncludedInPlan, Total: total,
		}
	}

	if discount == (Money{}) {
		discount = Zero(cur)
	}
	if discount.Currency() != cur {
		return Priced{}, ErrCurrencyMismatch.WithField("discount.currency")
	}
	if discount.IsNegative() {
		return Priced{}, Invalid("discount.amount", "discount must not be negative, got %s", discount)
	}
	if discount.Amount() > out.Subtotal.Amount() {
		return Priced{}, Invalid("discount.amount", "discount %s exceeds the subtotal %s", discount, out.Subtotal)
	}
	out.Discount = discount
	out.Total = Money{amount: out.Subtotal.Amount() - discount.Amount(), currency: cur}

	shares := apportion(discount.Amount(), totals, out.Subtotal.Amount())
	for i := range out.Lines {
		l := &out.Lines[i]
		l.Discount = Money{amount: shares[i], currency: cur}
		l.Net = Money{amount: totals[i] - shares[i], currency: cur}
		vat, err := IncludedVAT(l.Net, rate)
		if err != nil {
			return Priced{}, PrefixField(fmt.Sprintf("%s[%d].unit_price.amount", field, i), err)
		}
		l.VAT = vat
		out.VAT.amount += vat.amount // each VAT ≤ its Net; Σ Net = Total fits
	}
	return out, nil
}

// apportion splits d over totals in proportion to each total, by the largest
// remainder method; sub = Σ totals, 0 ≤ d ≤ sub, every total ≥ 0. Each share
// lies between 0 and its total and the shares add up to d: the cents left
// after flooring are Σ of the fractional parts, which is fewer than the number
// of lines with a non-zero fraction, so each such line gets at most one more
// cent and never more than ⌈d × total / sub⌉ ≤ total. The products are taken
// in 128 bits, so no amount in range can overflow.
func apportion(d int64, totals []int64, sub int64) []int64 {
	shares := make([]int64, len(totals))
	if d == 0 || sub == 0 {
		return shares
	}
	rems := make([]uint64, len(totals))
	left := d
	for i, t := range totals {
		hi, lo := bits.Mul64(uint64(d), uint64(t))
		q, r := bits.Div64(hi, lo, uint64(sub)) // hi < sub since d, t ≤ sub < 2^63
		shares[i], rems[i] = int64(q), r
		left -= int64(q)
	}
	order := make([]int, len(totals))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rems[a] > rems[b]:
			return -1
		case rems[a] < rems[b]:
			return 1
		}
		return 0
	})
	for _, i := range order[:left] {
		shares[i]++
	}
	return shares
}

// RateFor returns the VAT rate of the country a document is taxed in: the
// shipping country, or the billing country when there is no shipping address.
// An unknown country is ErrNoVATRate naming the address field it came from.
func (r VATRates) RateFor(billing Address, shipping *Address) (VATRate, error) {
	country, field := billing.Country, "billing_address.country"
	if shipping != nil {
		country, field = shipping.Country, "shipping_address.country"
	}
	rate, ok := r[country]
	if !ok {
		return 0, ErrNoVATRate.WithField(field)
	}
	if _, err := ParseVATRate(int64(rate)); err != nil {
		return 0, err
	}
	return rate, nil
}
