package invoice_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
)

// TestRandomHistories applies random command sequences, valid and not, in
// any order (duplicate and late webhooks included), and checks after every
// step what must always hold: refunds never exceed what was paid, the paid
// amount is what the attempts collected, the status agrees with the money,
// dunning is consistent, Paid and RetriesExhausted happen at most once, retry
// times never move backwards, every error is a *domain.Error, and folding
// the history again gives the same state.
func TestRandomHistories(t *testing.T) {
	t.Parallel()
	codes := []string{"insufficient_funds", "do_not_honor", "", "stolen_card", "expired_card", "debit_not_authorized"}
	schedules := []invoice.RetrySchedule{nil, {}, {2}, {1, 3, 5, 7}, {1, 2, 3, 4, 5, 6}}
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		history := []invoice.Event{created()}
		s := invoice.Fold(history...)
		now := t0
		paidEvents, exhaustedEvents := 0, 0
		var lastRetryAt time.Time
		for step := 0; step < 60; step++ {
			now = now.Add(time.Duration(1+r.IntN(3*24*60)) * time.Minute)
			n := len(s.Attempts)
			pick := func() int { return 1 + r.IntN(n+1) } // sometimes an attempt that does not exist
			var c invoice.Command
			switch r.IntN(7) {
			case 0, 1:
				a := n + 1
				if r.IntN(5) == 0 {
					a = 1 + r.IntN(n+2)
				}
				id := pay(a)
				if r.IntN(8) == 0 {
					id = pay(r.IntN(9))
				}
				c = invoice.StartAttempt{PaymentID: id, Attempt: a, At: now}
			case 2:
				a := pick()
				c = invoice.RecordAttemptProcessing{PaymentID: pay(a), PaymentIntentID: pi(a), At: now}
			case 3:
				a := pick()
				c = invoice.RecordAttemptSucceeded{PaymentID: pay(a), PaymentIntentID: pi(a), At: now}
			case 4:
				a := pick()
				c = invoice.RecordAttemptFailed{PaymentID: pay(a), PaymentIntentID: pi(a), DeclineCode: codes[r.IntN(len(codes))],
					RetrySchedule: schedules[r.IntN(len(schedules))], At: now}
			case 5:
				var amount *domain.Money
				if r.IntN(2) == 0 {
					m := domain.Cents(int64(r.IntN(7000)) - 100)
					amount = &m
				}
				c = invoice.Refund{RefundID: fmt.Sprintf("re_%d", r.IntN(6)), Amount: amount, At: now}
			default:
				c = invoice.Void{At: now}
			}

			events, err := invoice.Decide(s, c)
			if err != nil {
				var de *domain.Error
				require.True(t, errors.As(err, &de), "seed %d step %d: %T %v is a *domain.Error", seed, step, c, err)
				require.Nil(t, events)
				continue
			}
			for _, e := range events {
				name, data, err := invoice.Codec.Encode(e)
				require.NoError(t, err)
				back, err := invoice.Codec.Decode(name, data)
				require.NoError(t, err)
				require.Equal(t, e, back)
				switch e := e.(type) {
				case invoice.Paid:
					paidEvents++
				case invoice.RetriesExhausted:
					exhaustedEvents++
				case invoice.RetryScheduled:
					require.False(t, e.RetryAt.Before(lastRetryAt), "seed %d: retry times never move backwards", seed)
					require.False(t, e.RetryAt.Before(e.ScheduledAt), "seed %d: a retry is never due before it was scheduled", seed)
					lastRetryAt = e.RetryAt
				}
				s = invoice.Evolve(s, e)
				history = append(history, e)
			}
			checkInvariants(t, fmt.Sprintf("seed %d step %d after %T", seed, step, c), s)
			require.LessOrEqual(t, paidEvents, 1)
			require.LessOrEqual(t, exhaustedEvents, 1)
		}
		require.Equal(t, s, invoice.Fold(history...), "seed %d: folding again gives the same state", seed)
	}
}

func checkInvariants(t *testing.T, msg string, s invoice.State) {
	t.Helper()
	var collected, refunded int64
	succeeded := false
	for i, a := range s.Attempts {
		require.Equal(t, i+1, a.Number, msg)
		if a.Status == invoice.AttemptStatusSucceeded {
			collected += a.Amount.Amount()
			succeeded = true
		}
		if i < len(s.Attempts)-1 {
			require.Contains(t, []invoice.AttemptStatus{invoice.AttemptStatusSucceeded, invoice.AttemptStatusFailed}, a.Status,
				"%s: only the latest attempt can be in flight", msg)
		}
	}
	for _, r := range s.Refunds {
		refunded += r.Amount.Amount()
	}
	require.Equal(t, collected, s.PaidAmount.Amount(), "%s: paid is what the attempts collected", msg)
	require.Equal(t, refunded, s.RefundedAmount.Amount(), "%s: refunded is the sum of the refunds", msg)
	require.LessOrEqual(t, s.RefundedAmount.Amount(), s.PaidAmount.Amount(), "%s: refunds never exceed what was paid", msg)
	require.Equal(t, succeeded, s.Status == invoice.StatusPaid || s.Status == invoice.StatusRefunded, "%s: status %s agrees with the money", msg, s.Status)
	if s.Status == invoice.StatusRefunded {
		require.Equal(t, s.PaidAmount, s.RefundedAmount, msg)
	}
	if succeeded {
		require.NotNil(t, s.PaidAt, msg)
	}
	if s.RetryPending {
		require.Equal(t, invoice.StatusFailed, s.Status, msg)
		require.NotNil(t, s.NextRetryAt, msg)
	} else {
		require.Nil(t, s.NextRetryAt, msg)
	}
	require.Equal(t, max(len(s.Attempts)-1, 0), s.Retries, msg)
}
