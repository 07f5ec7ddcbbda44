package domain_test

import (
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

func TestIncludedVAT(t *testing.T) {
	t.Parallel()
	// At 21% and 19% no whole-cent gross amount has VAT of exactly half a
	// cent (gross×21/121 and gross×19/119 never end in .5: 121 and 119 are
	// odd), so their edges are the nearest fractions on either side. At 20%
	// the VAT is gross/6, which is exactly .5 for every gross ≡ 3 (mod 6).
	tests := []struct {
		name  string
		gross int64
		rate  domain.VATRate
		want  int64
	}{
		{"zero", 0, 2100, 0},
		{"zero rate", 1999, 0, 0},
		{"NL 21% of 12.10 is exactly 2.10", 1210, 2100, 210},
		{"NL 21% of 19.99 = 3.4693 rounds down", 1999, 2100, 347},
		{"NL 21% of 0.03 = 0.5207 rounds up", 3, 2100, 1},
		{"NL 21% of 0.02 = 0.3471 rounds down", 2, 2100, 0},
		{"NL 21% of 1.52 = 26.380 rounds down", 152, 2100, 26},
		{"NL 21% of 0.09 = 1.5620 rounds up", 9, 2100, 2},
		{"NL 21% of 1.21 exact", 121, 2100, 21},
		{"DE 19% of 11.90 exact", 1190, 1900, 190},
		{"DE 19% of 0.03 = 0.4790 rounds down", 3, 1900, 0},
		{"DE 19% of 0.04 = 0.6387 rounds up", 4, 1900, 1},
		{"DE 19% of 0.50 = 7.983 rounds up", 50, 1900, 8},
		{"FR 20% of 0.03 = exactly 0.5 rounds up", 3, 2000, 1},
		{"FR 20% of 0.09 = exactly 1.5 rounds up", 9, 2000, 2},
		{"FR 20% of 0.15 = exactly 2.5 rounds up (not to even)", 15, 2000, 3},
		{"FR 20% of 0.02 = 0.333 rounds down", 2, 2000, 0},
		{"FR 20% of 12.00 exact", 1200, 2000, 200},
		{"refund mirrors: FR 20% of -0.03 = -0.5", -3, 2000, -1},
		{"refund mirrors: FR 20% of -0.15 = -2.5", -15, 2000, -3},
		{"refund mirrors: NL 21% of -19.99", -1999, 2100, -347},
		{"refund mirrors: DE 19% of -0.04", -4, 1900, -1},
		{"100% rate: half of 0.03 is 0.015", 3, 10000, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.IncludedVAT(eur(tt.gross), tt.rate)
			require.NoError(t, err)
			require.Equal(t, eur(tt.want), got)
		})
	}
}

// TestIncludedVATMatchesExactArithmetic compares every amount up to 200.00
// (and its refund) with exact rational arithmetic rounded half away from zero.
func TestIncludedVATMatchesExactArithmetic(t *testing.T) {
	t.Parallel()
	for _, rate := range []domain.VATRate{2100, 1900, 2000, 900, 600, 550, 0} {
		for g := int64(0); g <= 20_000; g++ {
			want := exactIncludedVAT(g, int64(rate))
			got, err := domain.IncludedVAT(eur(g), rate)
			require.NoError(t, err)
			if got.Amount() != want {
				require.Equal(t, want, got.Amount(), "gross %d at %d bp", g, rate)
			}
			neg, err := domain.IncludedVAT(eur(-g), rate)
			require.NoError(t, err)
			if neg.Amount() != -want {
				require.Equal(t, -want, neg.Amount(), "gross %d at %d bp", -g, rate)
			}
		}
	}
}

func exactIncludedVAT(gross, rate int64) int64 {
	v := new(big.Rat).SetFrac64(gross*rate, 10000+rate)
	v.Add(v, big.NewRat(1, 2))
	return new(big.Int).Quo(v.Num(), v.Denom()).Int64() // floor for v ≥ 0
}

func TestIncludedVATKeepsCurrencyAndRefusesOverflow(t *testing.T) {
	t.Parallel()
	got, err := domain.IncludedVAT(usd(t, 1200), 2000)
	require.NoError(t, err)
	require.Equal(t, usd(t, 200), got)

	_, err = domain.IncludedVAT(eur(math.MaxInt64), 2100)
	require.ErrorIs(t, err, domain.ErrAmountOverflow)
	_, err = domain.IncludedVAT(eur(math.MinInt64), 2100)
	require.ErrorIs(t, err, domain.ErrAmountOverflow)
}

func TestVATRates(t *testing.T) {
	t.Parallel()
	rates := domain.DefaultVATRates()
	for c, want := range map[domain.Country]domain.VATRate{"NL": 2100, "BE": 2100, "DE": 1900, "FR": 2000} {
		got, err := rates.Rate(c)
		require.NoError(t, err)
		require.Equal(t, want, got, "%s", c)
	}
	_, err := rates.Rate("US")
	require.ErrorIs(t, err, domain.ErrNoVATRate)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, "shipping_address.country", de.Field)
	require.Equal(t, domain.KindConflict, de.Kind)

	for _, bp := range []int64{0, 2100, 10000} {
		r, err := domain.ParseVATRate(bp)
		require.NoError(t, err)
		require.Equal(t, domain.VATRate(bp), r)
	}
	for _, bp := range []int64{-1, 10001} {
		_, err := domain.ParseVATRate(bp)
		requireInvalidField(t, err, "rate_bp")
	}
}
