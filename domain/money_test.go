package domain_test

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

func eur(a int64) domain.Money { return domain.Cents(a) }

func usd(t *testing.T, a int64) domain.Money {
	t.Helper()
	m, err := domain.NewMoney(a, "USD")
	require.NoError(t, err)
	return m
}

func TestMoneyArithmetic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		op      func() (domain.Money, error)
		want    domain.Money
		wantErr error
	}{
		{"add", func() (domain.Money, error) { return eur(1050).Add(eur(250)) }, eur(1300), nil},
		{"add negative", func() (domain.Money, error) { return eur(100).Add(eur(-250)) }, eur(-150), nil},
		{"add to no money yet", func() (domain.Money, error) { return domain.Money{}.Add(eur(5)) }, eur(5), nil},
		{"add no money yet", func() (domain.Money, error) { return eur(5).Add(domain.Money{}) }, eur(5), nil},
		{"add mixed currencies", func() (domain.Money, error) { return eur(1).Add(usd(t, 1)) }, domain.Money{}, domain.ErrCurrencyMismatch},
		{"add zero of another currency", func() (domain.Money, error) { return eur(1).Add(usd(t, 0)) }, domain.Money{}, domain.ErrCurrencyMismatch},
		{"add overflow", func() (domain.Money, error) { return eur(math.MaxInt64).Add(eur(1)) }, domain.Money{}, domain.ErrAmountOverflow},
		{"add underflow", func() (domain.Money, error) { return eur(math.MinInt64).Add(eur(-1)) }, domain.Money{}, domain.ErrAmountOverflow},
		{"add up to the limit", func() (domain.Money, error) { return eur(math.MaxInt64 - 1).Add(eur(1)) }, eur(math.MaxInt64), nil},
		{"sub", func() (domain.Money, error) { return eur(1000).Sub(eur(1)) }, eur(999), nil},
		{"sub mixed currencies", func() (domain.Money, error) { return eur(1).Sub(usd(t, 1)) }, domain.Money{}, domain.ErrCurrencyMismatch},
		{"sub overflow", func() (domain.Money, error) { return eur(math.MaxInt64).Sub(eur(-1)) }, domain.Money{}, domain.ErrAmountOverflow},
		{"sub underflow", func() (domain.Money, error) { return eur(math.MinInt64).Sub(eur(1)) }, domain.Money{}, domain.ErrAmountOverflow},
		{"sub min int from zero", func() (domain.Money, error) { return eur(0).Sub(eur(math.MinInt64)) }, domain.Money{}, domain.ErrAmountOverflow},
		{"sub min int from negative", func() (domain.Money, error) { return eur(-1).Sub(eur(math.MinInt64)) }, eur(math.MaxInt64), nil},
		{"mul", func() (domain.Money, error) { return eur(1995).Mul(3) }, eur(5985), nil},
		{"mul by zero keeps currency", func() (domain.Money, error) { return usd(t, 7).Mul(0) }, usd(t, 0), nil},
		{"mul negative", func() (domain.Money, error) { return eur(250).Mul(-2) }, eur(-500), nil},
		{"mul overflow", func() (domain.Money, error) { return eur(math.MaxInt64/2 + 1).Mul(2) }, domain.Money{}, domain.ErrAmountOverflow},
		{"mul min int by -1", func() (domain.Money, error) { return eur(math.MinInt64).Mul(-1) }, domain.Money{}, domain.ErrAmountOverflow},
		{"mul -1 by min int", func() (domain.Money, error) { return eur(-1).Mul(math.MinInt64) }, domain.Money{}, domain.ErrAmountOverflow},
		{"neg", func() (domain.Money, error) { return eur(42).Neg(), nil }, eur(-42), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.op()
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMoneyCmp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b    domain.Money
		want    int
		wantErr error
	}{
		{eur(1), eur(2), -1, nil},
		{eur(2), eur(2), 0, nil},
		{eur(3), eur(2), 1, nil},
		{domain.Money{}, eur(0), 0, nil},
		{eur(-1), domain.Money{}, -1, nil},
		{eur(1), usd(t, 1), 0, domain.ErrCurrencyMismatch},
	}
	for _, tt := range tests {
		got, err := tt.a.Cmp(tt.b)
		if tt.wantErr != nil {
			require.ErrorIs(t, err, tt.wantErr)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tt.want, got, "%v cmp %v", tt.a, tt.b)
	}
}

func TestNewMoneyAndCurrency(t *testing.T) {
	t.Parallel()
	for _, c := range []domain.Currency{"", "EU", "EURO", "eur", "E1R"} {
		_, err := domain.NewMoney(1, c)
		requireInvalidField(t, err, "currency")
	}
	m, err := domain.NewMoney(-5, "GBP")
	require.NoError(t, err)
	require.Equal(t, int64(-5), m.Amount())
	require.Equal(t, domain.Currency("GBP"), m.Currency())
	require.True(t, m.IsNegative())
	require.False(t, m.IsPositive())
	require.False(t, m.IsZero())
	require.True(t, domain.Zero(domain.EUR).IsZero())
}

func TestMoneyString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    domain.Money
		want string
	}{
		{eur(1234), "12.34 EUR"},
		{eur(5), "0.05 EUR"},
		{eur(-5), "-0.05 EUR"},
		{eur(-1234), "-12.34 EUR"},
		{eur(math.MinInt64), "-92233720368547758.08 EUR"},
		{eur(math.MaxInt64), "92233720368547758.07 EUR"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.m.String())
	}
}

func TestMoneyJSON(t *testing.T) {
	t.Parallel()
	t.Run("round trip", func(t *testing.T) {
		t.Parallel()
		for _, m := range []domain.Money{eur(0), eur(1999), eur(-250), usd(t, math.MaxInt64), eur(math.MinInt64)} {
			b, err := json.Marshal(m)
			require.NoError(t, err)
			var got domain.Money
			require.NoError(t, json.Unmarshal(b, &got))
			require.Equal(t, m, got)
		}
	})
	t.Run("wire shape", func(t *testing.T) {
		t.Parallel()
		b, err := json.Marshal(eur(1999))
		require.NoError(t, err)
		require.JSONEq(t, `{"amount":1999,"currency":"EUR"}`, string(b))
	})
	t.Run("no money yet round trips as null", func(t *testing.T) {
		t.Parallel()
		type line struct {
			Discount domain.Money `json:"discount"`
		}
		b, err := json.Marshal(line{})
		require.NoError(t, err)
		require.JSONEq(t, `{"discount":null}`, string(b))
		var got line
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, line{}, got)
	})
	t.Run("rejected", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name, in, field string
		}{
			{"float amount", `{"amount": 19.99, "currency": "EUR"}`, "amount"},
			{"float amount with zero fraction", `{"amount": 19.0, "currency": "EUR"}`, "amount"},
			{"exponent amount", `{"amount": 1e3, "currency": "EUR"}`, "amount"},
			{"string amount", `{"amount": "1999", "currency": "EUR"}`, "amount"},
			{"amount beyond int64", `{"amount": 9223372036854775808, "currency": "EUR"}`, "amount"},
			{"missing currency", `{"amount": 1999}`, "currency"},
			{"empty currency", `{"amount": 1999, "currency": ""}`, "currency"},
			{"lower-case currency", `{"amount": 1999, "currency": "eur"}`, "currency"},
			{"not an object", `1999`, "amount"},
		}
		for _, tt := range tests {
			var m domain.Money
			err := json.Unmarshal([]byte(tt.in), &m)
			requireInvalidField(t, err, tt.field)
		}
	})
}

// requireInvalidField checks that err is a validation error naming field.
func requireInvalidField(t *testing.T, err error, field string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, domain.ErrInvalid)
	var de *domain.Error
	require.True(t, errors.As(err, &de), "want a *domain.Error, got %T %v", err, err)
	require.Equal(t, field, de.Field, "error %v", err)
	require.Equal(t, domain.KindInvalid, de.Kind)
}
