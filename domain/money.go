package domain

import (
	"encoding/json"
	"fmt"
	"math"
)

// Currency is an ISO 4217 code in upper case, e.g. "EUR".
type Currency string

// EUR is the business's default currency.
const EUR Currency = "EUR"

// ParseCurrency accepts a three-letter upper-case ISO 4217 code.
func ParseCurrency(s string) (Currency, error) {
	if len(s) != 3 {
		return "", Invalid("currency", "currency must be a three-letter ISO 4217 code, got %q", s)
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return "", Invalid("currency", "currency must be a three-letter upper-case ISO 4217 code, got %q", s)
		}
	}
	return Currency(s), nil
}

// Money is an amount in minor units (cents) of a currency. The zero Money has
// no currency and is only useful as "nothing yet"; every Money built by
// NewMoney or decoded from JSON has one. Money never holds a float.
type Money struct {
	amount   int64
	currency Currency
}

// NewMoney returns amount minor units of currency.
func NewMoney(amount int64, currency Currency) (Money, error) {
	c, err := ParseCurrency(string(currency))
	if err != nil {
		return Money{}, err
	}
	return Money{amount: amount, currency: c}, nil
}

// Cents returns amount minor units of EUR.
func Cents(amount int64) Money { return Money{amount: amount, currency: EUR} }

// Zero returns no money in currency.
func Zero(currency Currency) Money { return Money{currency: currency} }

// Amount returns the amount in minor units.
func (m Money) Amount() int64 { return m.amount }

// Currency returns the currency.
func (m Money) Currency() Currency { return m.currency }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.amount == 0 }

// IsPositive reports whether the amount is above zero.
func (m Money) IsPositive() bool { return m.amount > 0 }

// IsNegative reports whether the amount is below zero.
func (m Money) IsNegative() bool { return m.amount < 0 }

func (m Money) compatible(o Money) (Currency, error) {
	switch {
	case m.currency == o.currency:
		return m.currency, nil
	case m.currency == "" && m.amount == 0:
		return o.currency, nil
	case o.currency == "" && o.amount == 0:
		return m.currency, nil
	}
	return "", ErrCurrencyMismatch
}

// Add returns m+o. It refuses mixed currencies and overflow. A zero Money
// without a currency adds as the other's currency, so sums can start at Money{}.
func (m Money) Add(o Money) (Money, error) {
	c, err := m.compatible(o)
	if err != nil {
		return Money{}, err
	}
	if (o.amount > 0 && m.amount > math.MaxInt64-o.amount) || (o.amount < 0 && m.amount < math.MinInt64-o.amount) {
		return Money{}, ErrAmountOverflow
	}
	return Money{amount: m.amount + o.amount, currency: c}, nil
}

// Sub returns m-o, with the rules of Add.
func (m Money) Sub(o Money) (Money, error) {
	c, err := m.compatible(o)
	if err != nil {
		return Money{}, err
	}
	// Checked directly rather than as m + (-o): -MinInt64 does not exist,
	// yet -1 - MinInt64 is MaxInt64 and must be allowed.
	if (o.amount < 0 && m.amount > math.MaxInt64+o.amount) || (o.amount > 0 && m.amount < math.MinInt64+o.amount) {
		return Money{}, ErrAmountOverflow
	}
	return Money{amount: m.amount - o.amount, currency: c}, nil
}

// Mul returns m×n, refusing overflow.
func (m Money) Mul(n int64) (Money, error) {
	if n != 0 && m.amount != 0 {
		r := m.amount * n
		if r/n != m.amount || (m.amount == -1 && n == math.MinInt64) || (n == -1 && m.amount == math.MinInt64) {
			return Money{}, ErrAmountOverflow
		}
		return Money{amount: r, currency: m.currency}, nil
	}
	return Money{currency: m.currency}, nil
}

// Neg returns -m.
func (m Money) Neg() Money { return Money{amount: -m.amount, currency: m.currency} }

// Cmp compares m and o: -1, 0 or +1. It refuses mixed currencies.
func (m Money) Cmp(o Money) (int, error) {
	if _, err := m.compatible(o); err != nil {
		return 0, err
	}
	switch {
	case m.amount < o.amount:
		return -1, nil
	case m.amount > o.amount:
		return 1, nil
	}
	return 0, nil
}

// String renders "12.34 EUR" for logs and emails; it assumes two decimals,
// which holds for every currency the business sells in.
func (m Money) String() string {
	sign := ""
	a := uint64(m.amount)
	if m.amount < 0 {
		sign = "-"
		a = -a // two's complement: also right for MinInt64
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, a/100, a%100, m.currency)
}

type moneyJSON struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// MarshalJSON writes {"amount": <minor units>, "currency": "EUR"}. The zero
// Money ("nothing yet", no currency) is written as null, so that it decodes
// back to itself instead of failing as a Money without a currency.
func (m Money) MarshalJSON() ([]byte, error) {
	if m.currency == "" {
		return []byte("null"), nil
	}
	return json.Marshal(moneyJSON{Amount: m.amount, Currency: m.currency})
}

// UnmarshalJSON reads {"amount": <int>, "currency": "EUR"}; a float amount or
// a bad currency is an error, so no Money without a currency can be decoded.
// null decodes to the zero Money; a request field that requires an amount
// must check for it.
func (m *Money) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = Money{}
		return nil
	}
	var v moneyJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return Invalid("amount", "money must be {\"amount\": <integer minor units>, \"currency\": \"EUR\"}")
	}
	mm, err := NewMoney(v.Amount, v.Currency)
	if err != nil {
		return err
	}
	*m = mm
	return nil
}
