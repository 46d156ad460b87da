package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicsTimeout bounds creating the pipeline's topics when a component
// starts.
const TopicsTimeout = 30 * time.Second

// NewClient is how every component gets its Kafka client: the section's
// options (brokers, TLS, SASL, static membership), logging to log, then
// opts; and the pipeline's topics created when missing, within
// TopicsTimeout and ctx. A topic that cannot be created (no right to, on a
// managed cluster) is logged and the client returned all the same: a
// missing topic then shows as produce or fetch errors, counted where they
// happen.
func (c *Configuration) NewClient(ctx context.Context, log *slog.Logger, opts ...kgo.Opt) (*kgo.Client, error) {
	base, err := c.Opts()
	if err != nil {
		return nil, fmt.Errorf("kafka: %w", err)
	}
	cl, err := kgo.NewClient(append(append(base, WithLogger(log)), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, TopicsTimeout)
	defer cancel()
	if err := c.EnsureTopics(tctx, cl); err != nil {
		if ctx.Err() != nil {
			cl.Close()
			return nil, fmt.Errorf("kafka topics: %w", ctx.Err())
		}
		log.Warn("could not ensure the kafka topics exist (continuing)", "err", err)
	}
	return cl, nil
}

// Closed reports whether a poll loop must end: its context is done or its
// client was closed.
func Closed(ctx context.Context, fetches kgo.Fetches) bool {
	return ctx.Err() != nil || fetches.IsClientClosed()
}

// LogFetchErrors logs the fetch errors of a poll, leaving out the context
// errors that a poll with a deadline, or a stop, returns; it returns how
// many it logged.
func LogFetchErrors(log *slog.Logger, fetches kgo.Fetches) int {
	n := 0
	fetches.EachError(func(topic string, partition int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		n++
		log.Warn("kafka fetch error", "topic", topic, "partition", partition, "err", err)
	})
	return n
}
