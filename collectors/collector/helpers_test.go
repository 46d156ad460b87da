package collector

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/meshtelemetry/telemetry/common/kafka"
	"github.com/meshtelemetry/telemetry/wire"
	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// received collects the samples read back from Kafka.
type received struct {
	mu      sync.Mutex
	samples []*wirepb.Sample
	bad     int
}

func (r *received) snapshot() []*wirepb.Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*wirepb.Sample(nil), r.samples...)
}

// consume reads topic from the start until the test ends.
func consume(t testing.TB, kc *kafka.Configuration) *received {
	t.Helper()
	opts, err := kc.Opts()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kc.Topics.Samples),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	r := &received{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(rec *kgo.Record) {
				s := &wirepb.Sample{}
				schema, ok := wire.SchemaOf(rec)
				ok = ok && len(rec.Headers) == 1 && string(schema) == wire.SchemaSample
				if err := wire.DecodeSample(rec.Value, s); err != nil || !ok || string(rec.Key) != string(wire.SampleKey(nil, s)) {
					r.mu.Lock()
					r.bad++
					r.mu.Unlock()
					return
				}
				r.mu.Lock()
				r.samples = append(r.samples, s)
				r.mu.Unlock()
			})
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		cl.Close()
	})
	return r
}

// testConfig is a collector configuration with fast timings.
func testConfig(instance string) Configuration {
	cfg := DefaultConfiguration()
	cfg.Instance = instance
	cfg.Backoff = Backoff{Min: 50 * time.Millisecond, Max: 200 * time.Millisecond, Factor: 2}
	cfg.TargetsFileInterval = 50 * time.Millisecond
	cfg.InventoryInterval = 500 * time.Millisecond
	cfg.DialTimeout = 2 * time.Second
	cfg.StallTimeout = 5 * time.Second
	cfg.FlushTimeout = 3 * time.Second
	cfg.Linger = time.Millisecond
	cfg.TargetDefaults.Insecure = true
	for i := range cfg.Subscriptions {
		if cfg.Subscriptions[i].SampleInterval > 0 {
			cfg.Subscriptions[i].SampleInterval = 100 * time.Millisecond
		}
	}
	return cfg
}

func startCollector(t testing.TB, cfg Configuration, kc *kafka.Configuration) *Collector {
	t.Helper()
	c, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry(), Kafka: kc})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

// fakeTarget is a minimal gNMI server for behaviours the simulator does
// not have: floods of prepared notifications, garbage, stalls.
type fakeTarget struct {
	gnmi.UnimplementedGNMIServer
	// behave runs one Subscribe stream of target.
	behave func(target string, srv gnmi.GNMI_SubscribeServer) error
}

func (f *fakeTarget) Subscribe(srv gnmi.GNMI_SubscribeServer) error {
	req, err := srv.Recv()
	if err != nil {
		return err
	}
	if req.GetSubscribe() == nil {
		return status.Error(codes.InvalidArgument, "want a SubscriptionList")
	}
	go func() { // drain (polls, close)
		for {
			if _, err := srv.Recv(); err != nil {
				return
			}
		}
	}()
	return f.behave(req.GetSubscribe().GetPrefix().GetTarget(), srv)
}

// serveFake starts a fake gNMI server on loopback and returns its address.
func serveFake(t testing.TB, behave func(target string, srv gnmi.GNMI_SubscribeServer) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	gnmi.RegisterGNMIServer(s, &fakeTarget{behave: behave})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return ln.Addr().String()
}

// sendSync sends the sync_response.
func sendSync(srv gnmi.GNMI_SubscribeServer) error {
	return srv.Send(&gnmi.SubscribeResponse{Response: &gnmi.SubscribeResponse_SyncResponse{SyncResponse: true}})
}

// floodPrepared sends n prepared copies of the counters notifications of
// target (ifaces interfaces, round robin) as fast as the stream takes them.
func floodPrepared(target string, srv gnmi.GNMI_SubscribeServer, ifaces, n int) error {
	msgs := make([]*grpc.PreparedMsg, ifaces)
	for i := range msgs {
		resp := &gnmi.SubscribeResponse{Response: &gnmi.SubscribeResponse_Update{
			Update: countersNotification(target, fmt.Sprintf("Ethernet%d", i+1), time.Now().UnixNano(), uint64(i))}}
		msgs[i] = &grpc.PreparedMsg{}
		if err := msgs[i].Encode(srv, resp); err != nil {
			return err
		}
	}
	if err := sendSync(srv); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := srv.SendMsg(msgs[i%ifaces]); err != nil {
			return err
		}
	}
	<-srv.Context().Done()
	return nil
}
