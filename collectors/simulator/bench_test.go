package simulator

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// rawCodec is a client codec that does not decode responses: it records
// whether each message is a notification, so the benchmark measures the
// server rather than client-side protobuf decoding.
type rawCodec struct{ proto encoding.CodecV2 }

type rawResp struct {
	notification bool
	size         int
}

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }
func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawResp); ok {
		r.size = data.Len()
		var first [1]byte
		data.CopyTo(first[:])
		r.notification = first[0] == 0x0a // field 1 (update), length-delimited
		return nil
	}
	return c.proto.Unmarshal(data, v)
}
func (rawCodec) Name() string { return "proto" }

// BenchmarkServerNotifications measures how many notifications per second
// the server generates and sends over real gRPC on loopback: one STREAM
// per target, SAMPLE every 10 ms over all interface leaves (15 updates per
// notification), on a fabric of 8 sites × 4 switches × 64 interfaces (2048
// interfaces: up to 205k notifications/s offered). The client does not
// decode (see BenchmarkServerNotificationsDecoded for that). b.N is the
// number of notifications received.
func BenchmarkServerNotifications(b *testing.B) { benchServer(b, false) }

// BenchmarkServerNotificationsDecoded is the same with the client decoding
// every response with the gnmi protobuf types (client CPU included).
func BenchmarkServerNotificationsDecoded(b *testing.B) { benchServer(b, true) }

func benchServer(b *testing.B, decode bool) {
	f, _ := startFabric(b, func(cfg *Configuration) {
		cfg.Sites, cfg.SwitchesPerSite, cfg.InterfacesPerSwitch = 8, 4, 64
	}, nil)
	conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{proto: encoding.GetCodecV2("proto")})))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var notifs, bytes atomic.Int64
	target := int64(b.N)
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	ready := make(chan struct{}, len(f.Targets()))
	desc := &grpc.StreamDesc{StreamName: "Subscribe", ServerStreams: true, ClientStreams: true}
	for _, t := range f.Targets() {
		cs, err := conn.NewStream(ctx, desc, gpb.GNMI_Subscribe_FullMethodName)
		if err != nil {
			b.Fatal(err)
		}
		if err := cs.SendMsg(subReq(t.Name, gpb.SubscriptionList_STREAM, &gpb.Subscription{
			Path: path("interfaces"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(10 * time.Millisecond),
		})); err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			synced := false
			for {
				var isNotif bool
				if decode {
					var r gpb.SubscribeResponse
					if err := cs.RecvMsg(&r); err != nil {
						return
					}
					isNotif = r.GetUpdate() != nil
					bytes.Add(int64(len(r.GetUpdate().GetUpdate())))
				} else {
					var r rawResp
					if err := cs.RecvMsg(&r); err != nil {
						return
					}
					isNotif = r.notification
					bytes.Add(int64(r.size))
				}
				if !isNotif {
					synced = true
					ready <- struct{}{}
					continue
				}
				if synced && notifs.Add(1) == target {
					once.Do(func() { close(done) })
				}
			}
		}()
	}
	for range f.Targets() {
		<-ready
	}
	notifs.Store(0)
	before := f.Emitted()
	b.ResetTimer()
	start := time.Now()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatal("timeout")
	}
	el := time.Since(start)
	b.StopTimer()
	after := f.Emitted()
	b.ReportMetric(float64(notifs.Load())/el.Seconds(), "notifs/s")
	b.ReportMetric(float64(after.Updates-before.Updates)/el.Seconds(), "updates/s")
	cancel()
	wg.Wait()
}

// BenchmarkBuildNotification measures sampling one interface and encoding
// its notification (15 updates) as the server does, without the network.
func BenchmarkBuildNotification(b *testing.B) {
	cfg := DefaultConfiguration()
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	d := f.devices[0]
	es := f.newEntSub(d.name, f.entities(d)[0], 1<<15-1)
	b.ReportAllocs()
	tns := time.Now().UnixNano()
	for i := 0; b.Loop(); i++ {
		f.eval(es, tns+int64(i)*1000)
		es.build(tns+int64(i)*1000, false)
		es.encode().Free()
	}
}
