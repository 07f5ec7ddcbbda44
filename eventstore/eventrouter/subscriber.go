package eventrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/subsd/subsd/eventstore"
)

// ErrSubscriberClosed is returned by Subscribe after Close.
var ErrSubscriberClosed = errors.New("eventrouter: subscriber closed")

// SubscriberConfig configures a Subscriber. Zero values take the defaults.
type SubscriberConfig struct {
	// CheckpointFunc returns the position after which a consumer resumes. It
	// is called once per Subscribe; an error fails Subscribe. Required.
	CheckpointFunc func(ctx context.Context, consumer string) (eventstore.Position, error)
	// NackDelay is how long to wait before redelivering a nacked message
	// (default 1s).
	NackDelay time.Duration
	// ResubscribeDelay is the first pause before subscribing to the store
	// again after Store.Subscribe failed; it doubles up to a minute
	// (default 1s).
	ResubscribeDelay time.Duration
	// Logger receives subscription failures (default slog.Default()).
	Logger *slog.Logger
}

// Subscriber is a Watermill message.Subscriber over an event store: the topic
// is a consumer's name, and the messages are the store's events after that
// consumer's checkpoint, in global order (see NewMessage for their shape).
//
// Delivery is one message at a time: the next event is sent only after the
// previous message is acked, so a handler sees events in order. A nacked
// message is sent again (a copy with the same UUID, payload and metadata)
// after NackDelay, until it is acked. If the store's subscription fails, the
// Subscriber subscribes again after the last acked event, with backoff. Each
// message's context is the subscription's, cancelled when Subscribe's ctx is
// done or Close is called.
//
// The Subscriber does not write checkpoints: the handler does (see Handler),
// in the transaction of its effects. A Subscriber is safe for concurrent use.
type Subscriber struct {
	store eventstore.Store
	cfg   SubscriberConfig

	mu      sync.Mutex
	closed  bool
	cancels []context.CancelFunc
	wg      sync.WaitGroup
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber returns a Subscriber reading store.
func NewSubscriber(store eventstore.Store, cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.CheckpointFunc == nil {
		return nil, errors.New("eventrouter: SubscriberConfig.CheckpointFunc is required")
	}
	if cfg.NackDelay <= 0 {
		cfg.NackDelay = time.Second
	}
	if cfg.ResubscribeDelay <= 0 {
		cfg.ResubscribeDelay = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Subscriber{store: store, cfg: cfg}, nil
}

// Subscribe starts delivering the events after the checkpoint of consumer
// topic. The returned channel is closed when ctx is done or Close is called.
// It fails if the checkpoint cannot be read or the Subscriber is closed.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	from, err := s.cfg.CheckpointFunc(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("subscribing consumer %s: %w", topic, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSubscriberClosed
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancels = append(s.cancels, cancel)
	out := make(chan *message.Message)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		s.run(ctx, topic, from, out)
	}()
	return out, nil
}

// Close stops every subscription, closes their channels and waits for them to
// end. It is idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	for _, cancel := range s.cancels {
		cancel()
	}
	s.cancels = nil
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// run subscribes to the store from the position after which the consumer
// resumes, resubscribing after failures, until ctx is done.
func (s *Subscriber) run(ctx context.Context, consumer string, from eventstore.Position, out chan<- *message.Message) {
	last := from
	delay := s.cfg.ResubscribeDelay
	for {
		err := s.store.Subscribe(ctx, last, func(ctx context.Context, e eventstore.RecordedEvent) error {
			if err := deliver(ctx, NewMessage(e), out, s.cfg.NackDelay); err != nil {
				return err
			}
			last = e.Position
			delay = s.cfg.ResubscribeDelay
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		s.cfg.Logger.ErrorContext(ctx, "eventrouter: event store subscription failed, subscribing again",
			"consumer", consumer, "after", last.String(), "retry_in", delay, "error", err)
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, time.Minute)
	}
}

// deliver sends msg and waits for its ack, sending a fresh copy after every
// nack. It returns only when the message is acked or ctx is done.
func deliver(ctx context.Context, msg *message.Message, out chan<- *message.Message, nackDelay time.Duration) error {
	for {
		m := msg.Copy()
		m.SetContext(ctx)
		select {
		case out <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-m.Acked():
			return nil
		case <-m.Nacked():
			if !sleep(ctx, nackDelay) {
				return ctx.Err()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// sleep waits for d or until ctx is done, reporting whether it slept the full
// duration.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
