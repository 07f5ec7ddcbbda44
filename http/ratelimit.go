package http

import (
	"math"
	"net/http"
	"strconv"
	"sync"

	"golang.org/x/time/rate"
)

// RateLimit is a token bucket per bearer token: PerSecond requests a second
// on average, bursts of up to Burst.
type RateLimit struct {
	// PerSecond is the sustained rate. Negative disables rate limiting;
	// zero means DefaultRateLimit.
	PerSecond float64
	// Burst is the bucket's size; zero means max(1, 2×PerSecond).
	Burst int
}

// DefaultRateLimit is generous for people and scripts (a dashboard page is
// one request) yet stops one runaway client from taking the whole service:
// 100 requests a second per token, bursts of 200.
var DefaultRateLimit = RateLimit{PerSecond: 100, Burst: 200}

// limiters holds one bucket per token. Only authenticated tokens reach it,
// and they come from configuration, so the map stays small.
type limiters struct {
	limit   rate.Limit
	burst   int
	off     bool
	mu      sync.Mutex
	byToken map[string]*rate.Limiter
}

func newLimiters(rl RateLimit) *limiters {
	if rl.PerSecond == 0 {
		rl = RateLimit{PerSecond: DefaultRateLimit.PerSecond, Burst: rl.Burst}
		if rl.Burst == 0 {
			rl.Burst = DefaultRateLimit.Burst
		}
	}
	if rl.Burst <= 0 {
		rl.Burst = max(1, int(math.Ceil(2*rl.PerSecond)))
	}
	return &limiters{
		limit:   rate.Limit(rl.PerSecond),
		burst:   rl.Burst,
		off:     rl.PerSecond < 0,
		byToken: map[string]*rate.Limiter{},
	}
}

func (l *limiters) get(token string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.byToken[token]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.byToken[token] = lim
	}
	return lim
}

// rateLimit answers 429 rate_limited, with Retry-After in whole seconds,
// when the request's token has used up its bucket.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiters.off {
			next.ServeHTTP(w, r)
			return
		}
		res := s.limiters.get(info(r.Context()).token).Reserve()
		if delay := res.Delay(); delay > 0 {
			res.Cancel()
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(delay.Seconds())))))
			s.writeError(w, r, errRateLimited)
			return
		}
		next.ServeHTTP(w, r)
	})
}
