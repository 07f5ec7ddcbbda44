package settings_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/settings"
)

var (
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
)

type spec struct {
	name  string
	given []settings.Event
	when  settings.Command
	then  []settings.Event
	err   error
	field string
}

func run(t *testing.T, specs []spec) {
	t.Helper()
	for _, sp := range specs {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			got, err := settings.Decide(settings.Fold(sp.given...), sp.when)
			if sp.err != nil {
				require.ErrorIs(t, err, sp.err)
				require.Nil(t, got)
				var de *domain.Error
				require.ErrorAs(t, err, &de)
				require.Equal(t, sp.field, de.Field, "%v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, sp.then, got)
			for _, e := range got {
				name, data, err := settings.Codec.Encode(e)
				require.NoError(t, err)
				back, err := settings.Codec.Decode(name, data)
				require.NoError(t, err)
				require.Equal(t, e, back)
			}
		})
	}
}

func emailCmd(f func(*settings.ChangeEmailSettings)) settings.ChangeEmailSettings {
	c := settings.ChangeEmailSettings{TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 5, FromName: " Vivlab ", FromAddress: "hello@Vivlab.example", At: t1}
	if f != nil {
		f(&c)
	}
	return c
}

var emailSet = settings.EmailSettingsChanged{
	Email:     settings.Email{TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 5, FromName: "Vivlab", FromAddress: "hello@vivlab.example"},
	ChangedAt: t1,
}

func TestChangeEmailSettings(t *testing.T) {
	t.Parallel()
	run(t, []spec{
		{name: "set, normalised", when: emailCmd(nil), then: []settings.Event{emailSet}},
		{name: "the same again emits nothing", given: []settings.Event{emailSet}, when: emailCmd(nil)},
		{
			name: "switching track and trace off", given: []settings.Event{emailSet},
			when: emailCmd(func(c *settings.ChangeEmailSettings) { c.TrackAndTraceEnabled = false }),
			then: []settings.Event{settings.EmailSettingsChanged{
				Email:     settings.Email{ChargeReminderDaysBefore: 5, FromName: "Vivlab", FromAddress: "hello@vivlab.example"},
				ChangedAt: t1,
			}},
		},
		{
			name: "reminder on the day of the charge",
			when: emailCmd(func(c *settings.ChangeEmailSettings) { c.ChargeReminderDaysBefore = 0 }),
			then: []settings.Event{settings.EmailSettingsChanged{
				Email:     settings.Email{TrackAndTraceEnabled: true, FromName: "Vivlab", FromAddress: "hello@vivlab.example"},
				ChangedAt: t1,
			}},
		},
		{
			name: "reminder 30 days ahead",
			when: emailCmd(func(c *settings.ChangeEmailSettings) { c.ChargeReminderDaysBefore = 30 }),
			then: []settings.Event{settings.EmailSettingsChanged{
				Email:     settings.Email{TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 30, FromName: "Vivlab", FromAddress: "hello@vivlab.example"},
				ChangedAt: t1,
			}},
		},
		{name: "negative reminder days", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.ChargeReminderDaysBefore = -1 }), err: domain.ErrInvalid, field: "charge_reminder_days_before"},
		{name: "reminder days above 30", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.ChargeReminderDaysBefore = 31 }), err: domain.ErrInvalid, field: "charge_reminder_days_before"},
		{name: "no from name", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.FromName = " " }), err: domain.ErrInvalid, field: "from_name"},
		{name: "long from name", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.FromName = strings.Repeat("v", 101) }), err: domain.ErrInvalid, field: "from_name"},
		{name: "header injection in from name", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.FromName = "Vivlab\r\nBcc: x@y.z" }), err: domain.ErrInvalid, field: "from_name"},
		{name: "bad from address", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.FromAddress = "Vivlab <hello@vivlab.example>" }), err: domain.ErrInvalid, field: "from_address"},
		{name: "no from address", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.FromAddress = "" }), err: domain.ErrInvalid, field: "from_address"},
		{name: "no time", when: emailCmd(func(c *settings.ChangeEmailSettings) { c.At = time.Time{} }), err: domain.ErrInvalid, field: "at"},
	})
}

func TestChangeDunning(t *testing.T) {
	t.Parallel()
	dunningSet := settings.DunningChanged{Dunning: settings.Dunning{RetryDays: []int{2, 4}, FinalAction: settings.KeepPastDue}, ChangedAt: t1}
	cmd := func(days []int, a settings.FinalAction) settings.ChangeDunning {
		return settings.ChangeDunning{RetryDays: days, FinalAction: a, At: t1}
	}
	run(t, []spec{
		{name: "set", when: cmd([]int{2, 4}, settings.KeepPastDue), then: []settings.Event{dunningSet}},
		{name: "the same again emits nothing", given: []settings.Event{dunningSet}, when: cmd([]int{2, 4}, settings.KeepPastDue)},
		{
			name: "the defaults, chosen explicitly, are recorded", when: cmd([]int{1, 3, 5, 7}, settings.CancelAtPeriodEnd),
			then: []settings.Event{settings.DunningChanged{Dunning: settings.DefaultDunning(), ChangedAt: t1}},
		},
		{
			name: "no retries: fail at once", when: cmd(nil, settings.CancelNow),
			then: []settings.Event{settings.DunningChanged{Dunning: settings.Dunning{RetryDays: []int{}, FinalAction: settings.CancelNow}, ChangedAt: t1}},
		},
		{
			name: "ten retries", when: cmd([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 60}, settings.CancelNow),
			then: []settings.Event{settings.DunningChanged{Dunning: settings.Dunning{RetryDays: []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 60}, FinalAction: settings.CancelNow}, ChangedAt: t1}},
		},
		{name: "eleven retries", when: cmd([]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, settings.CancelNow), err: domain.ErrInvalid, field: "retry_days"},
		{name: "not increasing", when: cmd([]int{1, 3, 3}, settings.CancelNow), err: domain.ErrInvalid, field: "retry_days[2]"},
		{name: "decreasing", when: cmd([]int{5, 3}, settings.CancelNow), err: domain.ErrInvalid, field: "retry_days[1]"},
		{name: "day zero", when: cmd([]int{0, 3}, settings.CancelNow), err: domain.ErrInvalid, field: "retry_days[0]"},
		{name: "too far out", when: cmd([]int{61}, settings.CancelNow), err: domain.ErrInvalid, field: "retry_days[0]"},
		{name: "unknown final action", when: cmd([]int{1}, "email_only"), err: domain.ErrInvalid, field: "final_action"},
		{name: "no final action", when: cmd([]int{1}, ""), err: domain.ErrInvalid, field: "final_action"},
		{name: "no time", when: settings.ChangeDunning{RetryDays: []int{1}, FinalAction: settings.CancelNow}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestState(t *testing.T) {
	t.Parallel()
	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		s := settings.Fold()
		require.Equal(t, settings.Email{TrackAndTraceEnabled: false, ChargeReminderDaysBefore: 3}, s.Email())
		require.Equal(t, settings.Dunning{RetryDays: []int{1, 3, 5, 7}, FinalAction: settings.CancelAtPeriodEnd}, s.Dunning())
		require.True(t, s.ChangedAt.IsZero())
	})
	t.Run("the last change wins, each part on its own", func(t *testing.T) {
		t.Parallel()
		d := settings.DunningChanged{Dunning: settings.Dunning{RetryDays: []int{2}, FinalAction: settings.CancelNow}, ChangedAt: t0}
		s := settings.Fold(d, emailSet)
		require.Equal(t, emailSet.Email, s.Email())
		require.Equal(t, d.Dunning, s.Dunning())
		require.Equal(t, t1, s.ChangedAt)
	})
	t.Run("no retries stays an empty, non-nil schedule through storage", func(t *testing.T) {
		t.Parallel()
		name, data, err := settings.Codec.Encode(settings.DunningChanged{Dunning: settings.Dunning{RetryDays: []int{}, FinalAction: settings.CancelNow}, ChangedAt: t0})
		require.NoError(t, err)
		e, err := settings.Codec.Decode(name, data)
		require.NoError(t, err)
		days := settings.Fold(e).Dunning().RetryDays
		require.NotNil(t, days)
		require.Empty(t, days)
	})
	t.Run("the retry days are not shared", func(t *testing.T) {
		t.Parallel()
		days := []int{2, 4}
		s := settings.Fold(settings.DunningChanged{Dunning: settings.Dunning{RetryDays: days, FinalAction: settings.CancelNow}, ChangedAt: t0})
		days[0] = 99
		got := s.Dunning()
		got.RetryDays[1] = 98
		require.Equal(t, []int{2, 4}, s.Dunning().RetryDays)
		settings.DefaultDunning().RetryDays[0] = 97
		require.Equal(t, []int{1, 3, 5, 7}, settings.Fold().Dunning().RetryDays)
	})
}

func TestWire(t *testing.T) {
	t.Parallel()
	name, data, err := settings.Codec.Encode(emailSet)
	require.NoError(t, err)
	require.Equal(t, "settings.email_changed", name)
	require.JSONEq(t, `{"email":{"track_and_trace_enabled":true,"charge_reminder_days_before":5,"from_name":"Vivlab","from_address":"hello@vivlab.example"},"changed_at":"2026-03-01T10:00:00Z"}`, string(data))

	name, data, err = settings.Codec.Encode(settings.DunningChanged{Dunning: settings.DefaultDunning(), ChangedAt: t0})
	require.NoError(t, err)
	require.Equal(t, "settings.dunning_changed", name)
	require.JSONEq(t, `{"dunning":{"retry_days":[1,3,5,7],"final_action":"cancel_at_period_end"},"changed_at":"2026-03-01T09:00:00Z"}`, string(data))

	require.Equal(t, "settings-business", settings.Stream())

	_, err = settings.Decide(settings.State{}, nil)
	require.ErrorIs(t, err, domain.ErrInvalid)
}
