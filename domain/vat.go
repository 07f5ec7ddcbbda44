package domain

// VATRate is a VAT rate in basis points: 2100 is 21%.
type VATRate int64

// ParseVATRate accepts 0 ≤ bp ≤ 10000.
func ParseVATRate(bp int64) (VATRate, error) {
	if bp < 0 || bp > 10000 {
		return 0, Invalid("rate_bp", "VAT rate must be between 0 and 10000 basis points, got %d", bp)
	}
	return VATRate(bp), nil
}

// VATRates maps a shipping country to its VAT rate. Prices include VAT, so the
// rate says how much of a gross amount is tax.
type VATRates map[Country]VATRate

// DefaultVATRates are the standard rates of the countries the business ships
// to today; others are added through configuration.
func DefaultVATRates() VATRates {
	return VATRates{"NL": 2100, "BE": 2100, "DE": 1900, "FR": 2000}
}

// ErrNoVATRate is returned for a shipping country without a configured rate:
// the business must decide the rate before it can sell there.
var ErrNoVATRate = Conflict("vat_rate_unknown", "no VAT rate is configured for the shipping country")

// Rate returns the rate for country.
func (r VATRates) Rate(country Country) (VATRate, error) {
	rate, ok := r[country]
	if !ok {
		return 0, ErrNoVATRate.WithField("shipping_address.country")
	}
	return rate, nil
}

// IncludedVAT returns the VAT contained in the VAT-inclusive amount gross:
// gross × rate / (10000 + rate), rounded half away from zero to the minor
// unit ("half-up" on positive amounts, mirrored for refunds). It is applied
// once per line; totals are sums of rounded lines, never re-rounded.
func IncludedVAT(gross Money, rate VATRate) (Money, error) {
	a := gross.amount
	neg := a < 0
	if neg {
		a = -a
	}
	if a < 0 || (rate > 0 && a > (1<<62)/int64(rate)) {
		return Money{}, ErrAmountOverflow
	}
	num := a * int64(rate)
	den := 10000 + int64(rate)
	q, rem := num/den, num%den
	if 2*rem >= den {
		q++
	}
	if neg {
		q = -q
	}
	return Money{amount: q, currency: gross.currency}, nil
}
