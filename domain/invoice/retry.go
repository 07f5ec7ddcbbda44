package invoice

import (
	"fmt"
	"time"

	"github.com/subsd/subsd/domain"
)

// RetrySchedule is when failed charges are retried: retry n is due
// RetrySchedule[n-1] days after the invoice's FIRST failure, on the wall
// clock of the business time zone (a retry at 09:00 stays at 09:00 across a
// DST change). The default {1, 3, 5, 7} therefore retries one, three, five
// and seven days after the failure, as API.md puts it, and gives up a week
// after it, inside any billing cycle. Offsets count from the first failure
// rather than from each failure so that a late worker or a slow SEPA answer
// does not stretch dunning out. A retry is never due sooner than the first
// offset after the failure that schedules it (RetrySchedule[0] days): when
// its slot has already passed (a failure reported late, or a manual retry
// long after a hard decline) it moves to that, so that passed slots never
// fire as a burst of charges on the same card.
//
// Which retry comes next is the number of failed attempts so far: after the
// n-th failure retry n is scheduled (attempt n+1), and after a failure with
// no entry left the retries are exhausted. A manual retry is an attempt like
// any other and uses up a slot. A hard decline schedules nothing and
// exhausts the retries at once.
//
// An empty (non-nil) schedule means no automatic retries.
type RetrySchedule []int

// MaxRetryDays bounds one offset of a RetrySchedule.
const MaxRetryDays = 366

// DefaultRetrySchedule returns the schedule of API.md: 1, 3, 5 and 7 days.
func DefaultRetrySchedule() RetrySchedule { return RetrySchedule{1, 3, 5, 7} }

// Validate requires strictly increasing offsets of 1..MaxRetryDays days.
// Errors name "retry_schedule[i]".
func (r RetrySchedule) Validate() error {
	prev := 0
	for i, d := range r {
		if d <= prev || d > MaxRetryDays {
			return domain.Invalid(fmt.Sprintf("retry_schedule[%d]", i), "retry days must increase and lie between 1 and %d, got %v", MaxRetryDays, []int(r))
		}
		prev = d
	}
	return nil
}

// at returns the time of retry n (1-based) for a first failure at first, or
// false when the schedule has no retry n.
func (r RetrySchedule) at(n int, first time.Time, loc *time.Location) (time.Time, bool) {
	if n < 1 || n > len(r) {
		return time.Time{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	l := first.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()+r[n-1], l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), loc).UTC(), true
}

// hardDeclines are the codes after which retrying the same payment method
// cannot succeed, or must not be tried: the customer has to act (new card,
// new mandate, authentication) first. They follow Stripe's decline-code
// reference (docs.stripe.com/declines/codes: the codes whose next step is a
// new payment method or contacting the issuer because the card is blocked,
// invalid, or the authorization was revoked) and the SEPA/bank failure codes
// of the charge object. Card networks fine merchants for retrying these.
//
// Everything else, including do_not_honor, generic_decline,
// insufficient_funds, try_again_later, processing_error and any code not
// listed (or none), is soft and retried per the schedule: the schedule is
// short (four retries in a week, well inside the networks' 15-in-30-days
// limit), so retrying an unknown code costs little while not retrying loses
// the charge. do_not_honor is the issuer's generic "no" and is recoverable
// often enough that Stripe's own Smart Retries retry it.
var hardDeclines = map[string]bool{
	// Card blocked or taken back by the issuer.
	"lost_card": true, "stolen_card": true, "pickup_card": true, "fraudulent": true,
	"restricted_card": true, "security_violation": true, "merchant_blacklist": true,
	// The network or issuer says never to try again.
	"do_not_try_again": true,
	// The cardholder revoked the recurring authorization.
	"revocation_of_authorization": true, "revocation_of_all_authorizations": true, "stop_payment_order": true,
	// The card can never pay this: invalid, expired, or unsupported for it.
	"expired_card": true, "incorrect_number": true, "invalid_number": true, "invalid_account": true,
	"card_not_supported": true, "currency_not_supported": true, "transaction_not_allowed": true,
	"new_account_information_available": true,
	// Off-session charge that needs the customer to authenticate (3DS).
	"authentication_required": true,
	// SEPA Direct Debit / bank account failure codes.
	"account_closed": true, "no_account": true, "invalid_account_number": true, "account_frozen": true,
	"bank_account_restricted": true, "bank_ownership_changed": true, "debit_not_authorized": true,
}

// IsHardDecline reports whether a decline or failure code is hard: no
// automatic retry follows it. See hardDeclines for the list and the reasons.
func IsHardDecline(code string) bool { return hardDeclines[code] }
