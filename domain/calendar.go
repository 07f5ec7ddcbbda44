package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Unit is the unit of an Interval.
type Unit string

// The units an interval can have. There is no day unit: nothing ships or
// charges more often than weekly.
const (
	Week  Unit = "week"
	Month Unit = "month"
	Year  Unit = "year"
)

// MaxIntervalCount bounds Interval.Count so that date arithmetic cannot
// overflow and typos (count 1000) are caught.
const MaxIntervalCount = 520

// Interval is a recurrence period: Count × Unit, Count ≥ 1. Build one with
// NewInterval; the zero Interval is invalid.
type Interval struct {
	Unit  Unit `json:"unit"`
	Count int  `json:"count"`
}

// NewInterval validates unit and count.
func NewInterval(unit Unit, count int) (Interval, error) {
	switch unit {
	case Week, Month, Year:
	default:
		return Interval{}, Invalid("unit", "interval unit must be week, month or year, got %q", unit)
	}
	if count < 1 || count > MaxIntervalCount {
		return Interval{}, Invalid("count", "interval count must be between 1 and %d, got %d", MaxIntervalCount, count)
	}
	return Interval{Unit: unit, Count: count}, nil
}

// Validate checks an Interval decoded from JSON.
func (iv Interval) Validate() error {
	_, err := NewInterval(iv.Unit, iv.Count)
	return err
}

func (iv Interval) String() string { return fmt.Sprintf("%d %s", iv.Count, iv.Unit) }

// Date is a calendar day (a shipping day) without a time or zone. The zero
// Date is "no date".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "YYYY-MM-DD" and rejects days that do not exist.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, Invalid("date", "date must be YYYY-MM-DD, got %q", s)
	}
	return DateOf(t), nil
}

// DateOf returns the calendar day of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// DateIn returns the calendar day of instant t in loc.
func DateIn(t time.Time, loc *time.Location) Date { return DateOf(t.In(loc)) }

// IsZero reports whether d is the zero Date.
func (d Date) IsZero() bool { return d == Date{} }

// Time returns midnight at the start of d in loc.
func (d Date) Time(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// Before reports whether d is before e.
func (d Date) Before(e Date) bool { return d.Compare(e) < 0 }

// After reports whether d is after e.
func (d Date) After(e Date) bool { return d.Compare(e) > 0 }

// Compare returns -1, 0 or +1.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmp(d.Year, e.Year)
	case d.Month != e.Month:
		return cmp(int(d.Month), int(e.Month))
	}
	return cmp(d.Day, e.Day)
}

func cmp(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddDays returns d moved n days.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// MarshalJSON writes "YYYY-MM-DD", or null for the zero Date.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Invalid("date", "date must be a string YYYY-MM-DD")
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// AddMonthsClamped returns the day n months after anchor, with the anchor's
// day of month clamped to the length of the target month: Jan 31 + 1 month is
// Feb 28 (29 in a leap year), + 2 months is Mar 31. Computing every date of a
// schedule from its anchor, never from the previous (clamped) date, is what
// keeps the 31st returning to the 31st.
func AddMonthsClamped(anchor Date, n int) Date {
	total := anchor.Year*12 + int(anchor.Month) - 1 + n
	y, m := total/12, time.Month(total%12+1)
	if total < 0 && total%12 != 0 {
		y, m = (total-11)/12, time.Month((total%12+12)%12+1)
	}
	last := daysIn(y, m)
	day := anchor.Day
	if day > last {
		day = last
	}
	return Date{y, m, day}
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 12, 0, 0, 0, time.UTC).Day()
}

// Nth returns the n-th date of the schedule that starts at anchor and repeats
// every iv: Nth(anchor, iv, 0) is anchor itself.
func Nth(anchor Date, iv Interval, n int) Date {
	switch iv.Unit {
	case Week:
		return anchor.AddDays(7 * iv.Count * n)
	case Year:
		return AddMonthsClamped(anchor, 12*iv.Count*n)
	default:
		return AddMonthsClamped(anchor, iv.Count*n)
	}
}

// NthInstant returns the n-th instant of the schedule that starts at anchor
// and repeats every iv, computed on the wall clock of loc: the calendar day
// moves per Nth and the local time of day stays the anchor's, so a charge at
// 09:00 in Amsterdam stays at 09:00 across DST changes. A local time that
// does not exist on the target day (the spring-forward gap) is resolved by
// time.Date, which moves it forward by the gap; one that happens twice (the
// fall-back hour) resolves to the later, standard-time instant. Both are
// pinned by tests, since time.Date does not promise them.
func NthInstant(anchor time.Time, loc *time.Location, iv Interval, n int) time.Time {
	local := anchor.In(loc)
	d := Nth(DateOf(local), iv, n)
	h, mi, s := local.Clock()
	return time.Date(d.Year, d.Month, d.Day, h, mi, s, local.Nanosecond(), loc).UTC()
}
