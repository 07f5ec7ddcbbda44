package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
)

func date(y int, m time.Month, d int) domain.Date { return domain.Date{Year: y, Month: m, Day: d} }

func interval(t *testing.T, u domain.Unit, n int) domain.Interval {
	t.Helper()
	iv, err := domain.NewInterval(u, n)
	require.NoError(t, err)
	return iv
}

func TestAddMonthsClamped(t *testing.T) {
	t.Parallel()
	tests := []struct {
		anchor domain.Date
		n      int
		want   domain.Date
	}{
		{date(2026, 1, 31), 0, date(2026, 1, 31)},
		{date(2026, 1, 31), 1, date(2026, 2, 28)},
		{date(2028, 1, 31), 1, date(2028, 2, 29)},
		{date(2026, 1, 31), 2, date(2026, 3, 31)},
		{date(2026, 1, 31), 3, date(2026, 4, 30)},
		{date(2026, 1, 31), 4, date(2026, 5, 31)},
		{date(2026, 1, 30), 1, date(2026, 2, 28)},
		{date(2026, 1, 29), 1, date(2026, 2, 28)},
		{date(2026, 1, 28), 1, date(2026, 2, 28)},
		{date(2026, 12, 31), 1, date(2027, 1, 31)},
		{date(2026, 11, 30), 3, date(2027, 2, 28)},
		{date(2026, 3, 31), -1, date(2026, 2, 28)},
		{date(2026, 1, 15), -1, date(2025, 12, 15)},
		{date(2026, 1, 31), -13, date(2024, 12, 31)},
		{date(2024, 2, 29), 12, date(2025, 2, 28)},
		{date(2024, 2, 29), 48, date(2028, 2, 29)},
		{date(2024, 2, 29), 1200, date(2124, 2, 29)},
		{date(2000, 2, 29), 1200, date(2100, 2, 28)}, // 2100 is not a leap year
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, domain.AddMonthsClamped(tt.anchor, tt.n), "%s + %d months", tt.anchor, tt.n)
	}
}

func TestNthKeepsTheAnchor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		anchor domain.Date
		unit   domain.Unit
		count  int
		want   []domain.Date // the dates for n = 0, 1, 2, ...
	}{
		{"monthly from the 31st", date(2026, 1, 31), domain.Month, 1, []domain.Date{
			date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30), date(2026, 5, 31), date(2026, 6, 30),
		}},
		{"monthly from the 31st in a leap year", date(2028, 1, 31), domain.Month, 1, []domain.Date{
			date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30),
		}},
		{"every two months from the 30th", date(2025, 12, 30), domain.Month, 2, []domain.Date{
			date(2025, 12, 30), date(2026, 2, 28), date(2026, 4, 30), date(2026, 6, 30),
		}},
		{"quarterly from the 31st", date(2026, 5, 31), domain.Month, 3, []domain.Date{
			date(2026, 5, 31), date(2026, 8, 31), date(2026, 11, 30), date(2027, 2, 28), date(2027, 5, 31),
		}},
		{"yearly from a leap day", date(2024, 2, 29), domain.Year, 1, []domain.Date{
			date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29),
		}},
		{"every four years from a leap day", date(2024, 2, 29), domain.Year, 4, []domain.Date{
			date(2024, 2, 29), date(2028, 2, 29), date(2032, 2, 29),
		}},
		{"weekly across a month and year end", date(2026, 12, 24), domain.Week, 1, []domain.Date{
			date(2026, 12, 24), date(2026, 12, 31), date(2027, 1, 7), date(2027, 1, 14),
		}},
		{"every three weeks across February of a leap year", date(2028, 2, 15), domain.Week, 3, []domain.Date{
			date(2028, 2, 15), date(2028, 3, 7), date(2028, 3, 28),
		}},
		{"every two weeks across the DST change", date(2026, 3, 20), domain.Week, 2, []domain.Date{
			date(2026, 3, 20), date(2026, 4, 3), date(2026, 4, 17),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iv := interval(t, tt.unit, tt.count)
			for n, want := range tt.want {
				require.Equal(t, want, domain.Nth(tt.anchor, iv, n), "n=%d", n)
			}
		})
	}
}

func TestNthInstantAcrossDST(t *testing.T) {
	t.Parallel()
	ams, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	at := func(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, ams) }
	utc := func(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, time.UTC) }

	tests := []struct {
		name   string
		anchor time.Time
		unit   domain.Unit
		count  int
		want   []time.Time // UTC instants for n = 0, 1, 2, ...
	}{
		{"09:00 monthly stays 09:00 local across spring forward", at(2026, 2, 15, 9, 0), domain.Month, 1, []time.Time{
			utc(2026, 2, 15, 8, 0), utc(2026, 3, 15, 8, 0), utc(2026, 4, 15, 7, 0), utc(2026, 5, 15, 7, 0),
		}},
		{"09:00 monthly stays 09:00 local across fall back", at(2026, 9, 30, 9, 0), domain.Month, 1, []time.Time{
			utc(2026, 9, 30, 7, 0), utc(2026, 10, 30, 8, 0), utc(2026, 11, 30, 8, 0),
		}},
		{"09:00 weekly over the spring-forward weekend", at(2026, 3, 22, 9, 0), domain.Week, 1, []time.Time{
			utc(2026, 3, 22, 8, 0), utc(2026, 3, 29, 7, 0), utc(2026, 4, 5, 7, 0),
		}},
		{"09:00 on the 31st monthly keeps the anchor day and the hour", at(2026, 1, 31, 9, 0), domain.Month, 1, []time.Time{
			utc(2026, 1, 31, 8, 0), utc(2026, 2, 28, 8, 0), utc(2026, 3, 31, 7, 0),
		}},
		// 2026-03-29 02:30 does not exist in Amsterdam (02:00 → 03:00):
		// that occurrence moves forward by the gap to 03:30 CEST, and the
		// next one returns to 02:30, because every date is computed from
		// the anchor.
		{"02:30 anchor landing in the spring-forward gap", at(2026, 2, 28, 2, 30), domain.Month, 1, []time.Time{
			utc(2026, 2, 28, 1, 30), utc(2026, 3, 28, 1, 30), utc(2026, 4, 28, 0, 30),
		}},
		{"02:30 anchor weekly onto the spring-forward day", at(2026, 3, 22, 2, 30), domain.Week, 1, []time.Time{
			utc(2026, 3, 22, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 4, 5, 0, 30),
		}},
		// 2026-10-25 02:30 happens twice in Amsterdam; the schedule takes
		// the later (standard-time) one, deterministically.
		{"02:30 anchor weekly onto the fall-back day", at(2026, 10, 18, 2, 30), domain.Week, 1, []time.Time{
			utc(2026, 10, 18, 0, 30), utc(2026, 10, 25, 1, 30), utc(2026, 11, 1, 1, 30),
		}},
		{"anchor given in UTC is read on the Amsterdam wall clock", utc(2026, 3, 1, 23, 30), domain.Month, 1, []time.Time{
			// 00:30 local on 2 March; one month later 00:30 CEST on 2 April.
			utc(2026, 3, 1, 23, 30), utc(2026, 4, 1, 22, 30),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iv := interval(t, tt.unit, tt.count)
			for n, want := range tt.want {
				got := domain.NthInstant(tt.anchor, ams, iv, n)
				require.Equal(t, want, got, "n=%d: got %s local", n, got.In(ams))
				require.Equal(t, time.UTC, got.Location())
			}
		})
	}
}

func TestInterval(t *testing.T) {
	t.Parallel()
	for _, ok := range []struct {
		u domain.Unit
		n int
	}{{domain.Week, 1}, {domain.Month, 3}, {domain.Year, 1}, {domain.Week, domain.MaxIntervalCount}} {
		iv, err := domain.NewInterval(ok.u, ok.n)
		require.NoError(t, err)
		require.NoError(t, iv.Validate())
	}
	tests := []struct {
		u     domain.Unit
		n     int
		field string
	}{
		{"day", 1, "unit"},
		{"", 1, "unit"},
		{"Month", 1, "unit"},
		{domain.Month, 0, "count"},
		{domain.Week, -1, "count"},
		{domain.Year, domain.MaxIntervalCount + 1, "count"},
	}
	for _, tt := range tests {
		_, err := domain.NewInterval(tt.u, tt.n)
		requireInvalidField(t, err, tt.field)
	}
	requireInvalidField(t, domain.Interval{}.Validate(), "unit")
	require.Equal(t, "2 week", domain.Interval{Unit: domain.Week, Count: 2}.String())
}

func TestDate(t *testing.T) {
	t.Parallel()
	t.Run("parse", func(t *testing.T) {
		t.Parallel()
		for in, want := range map[string]domain.Date{
			"2026-02-28": date(2026, 2, 28),
			"2028-02-29": date(2028, 2, 29),
			"2026-12-31": date(2026, 12, 31),
		} {
			got, err := domain.ParseDate(in)
			require.NoError(t, err)
			require.Equal(t, want, got)
			require.Equal(t, in, got.String())
		}
		for _, in := range []string{"2026-02-30", "2026-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-1-05", "05-01-2026", "2026-01-05T00:00:00Z", ""} {
			_, err := domain.ParseDate(in)
			requireInvalidField(t, err, "date")
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		type doc struct {
			On domain.Date `json:"on"`
		}
		b, err := json.Marshal(doc{On: date(2026, 3, 1)})
		require.NoError(t, err)
		require.JSONEq(t, `{"on":"2026-03-01"}`, string(b))
		var got doc
		require.NoError(t, json.Unmarshal(b, &got))
		require.Equal(t, date(2026, 3, 1), got.On)

		b, err = json.Marshal(doc{})
		require.NoError(t, err)
		require.JSONEq(t, `{"on":null}`, string(b))
		got = doc{On: date(2026, 3, 1)}
		require.NoError(t, json.Unmarshal(b, &got))
		require.True(t, got.On.IsZero())

		for _, in := range []string{`{"on":"2026-02-30"}`, `{"on":20260301}`, `{"on":"2026/03/01"}`} {
			err := json.Unmarshal([]byte(in), &got)
			requireInvalidField(t, err, "date")
		}
	})
	t.Run("compare and days", func(t *testing.T) {
		t.Parallel()
		a, b := date(2026, 2, 28), date(2026, 3, 1)
		require.True(t, a.Before(b))
		require.True(t, b.After(a))
		require.Equal(t, 0, a.Compare(a))
		require.Equal(t, -1, date(2025, 12, 31).Compare(a))
		require.Equal(t, b, a.AddDays(1))
		require.Equal(t, date(2028, 2, 29), date(2028, 2, 28).AddDays(1))
		require.Equal(t, date(2025, 12, 31), date(2026, 1, 1).AddDays(-1))
		require.Equal(t, "", domain.Date{}.String())
	})
	t.Run("in a zone", func(t *testing.T) {
		t.Parallel()
		ams, err := time.LoadLocation("Europe/Amsterdam")
		require.NoError(t, err)
		late := time.Date(2026, 6, 30, 22, 30, 0, 0, time.UTC) // 00:30 on 1 July in Amsterdam
		require.Equal(t, date(2026, 7, 1), domain.DateIn(late, ams))
		require.Equal(t, date(2026, 6, 30), domain.DateOf(late))
		require.Equal(t, time.Date(2026, 7, 1, 0, 0, 0, 0, ams), date(2026, 7, 1).Time(ams))
	})
}
