package domain_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/subsd/subsd/domain"
)

// Money is integer minor units plus a currency; arithmetic returns an error
// instead of mixing currencies or overflowing.
func ExampleMoney() {
	price := domain.Cents(1995) // 19.95 EUR
	total, err := price.Mul(3)
	if err != nil {
		panic(err)
	}
	total, err = total.Sub(domain.Cents(500)) // a discount
	if err != nil {
		panic(err)
	}
	fmt.Println(total)

	b, _ := json.Marshal(total)
	fmt.Println(string(b))

	usd, _ := domain.NewMoney(100, "USD")
	_, err = total.Add(usd)
	fmt.Println(errors.Is(err, domain.ErrCurrencyMismatch))

	var in domain.Money
	err = json.Unmarshal([]byte(`{"amount": 19.95, "currency": "EUR"}`), &in)
	fmt.Println(err)
	// Output:
	// 54.85 EUR
	// {"amount":5485,"currency":"EUR"}
	// true
	// invalid_field: money must be {"amount": <integer minor units>, "currency": "EUR"} (amount)
}

// Prices include VAT; the VAT in a line is computed once and rounded half up
// to the cent.
func ExampleIncludedVAT() {
	rate, _ := domain.DefaultVATRates().Rate("NL")
	vat, _ := domain.IncludedVAT(domain.Cents(1999), rate)
	fmt.Println(vat)
	// Output: 3.47 EUR
}

// Every date of a schedule is computed from its anchor, so a subscription
// that started on the 31st returns to the 31st after a short month.
func ExampleNth() {
	anchor := domain.Date{Year: 2026, Month: time.January, Day: 31}
	monthly, _ := domain.NewInterval(domain.Month, 1)
	for n := range 4 {
		fmt.Println(domain.Nth(anchor, monthly, n))
	}
	// Output:
	// 2026-01-31
	// 2026-02-28
	// 2026-03-31
	// 2026-04-30
}

// Charges happen at an instant; NthInstant keeps the local time of day in the
// business zone across daylight saving changes.
func ExampleNthInstant() {
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	first := time.Date(2026, time.March, 15, 9, 0, 0, 0, ams)
	monthly, _ := domain.NewInterval(domain.Month, 1)
	for n := range 2 {
		at := domain.NthInstant(first, ams, monthly, n)
		fmt.Println(at.Format(time.RFC3339), at.In(ams).Format("15:04 MST"))
	}
	// Output:
	// 2026-03-15T08:00:00Z 09:00 CET
	// 2026-04-15T07:00:00Z 09:00 CEST
}
