package simulator

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Stop while every stream is busy and its client lags behind (gRPC holds
// sent notifications not read yet): clients that keep reading receive
// exactly Emitted() notifications and sync responses, each stream ends
// with Unavailable after its last notification, and Stop does not need
// its hard-stop fallback. Real gRPC over loopback, one connection per
// target as the collector dials.
func TestStopDeliversEveryCountedNotification(t *testing.T) {
	cfg := DefaultConfiguration()
	cfg.Listen = "127.0.0.1:0"
	cfg.Sites, cfg.SwitchesPerSite, cfg.InterfacesPerSwitch = 2, 2, 64
	cfg.MinSampleInterval = time.Millisecond
	f, err := New(cfg, Dependencies{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = f.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	type result struct {
		notifs, syncs uint64
		err           error
	}
	targets := f.Targets()
	results := make([]result, len(targets))
	var wg sync.WaitGroup
	started := make(chan struct{}, len(targets))
	for i, tg := range targets {
		conn, err := grpc.NewClient(f.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		sc, err := gpb.NewGNMIClient(conn).Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := sc.Send(subReq(tg.Name, gpb.SubscriptionList_STREAM, &gpb.Subscription{
			Path: path("interfaces", "interface[name=*]", "state", "counters"), Mode: gpb.SubscriptionMode_SAMPLE,
			SampleInterval: uint64(time.Millisecond),
		})); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[i]
			for n := 0; ; n++ {
				r, err := sc.Recv()
				if err != nil {
					res.err = err
					return
				}
				switch {
				case r.GetSyncResponse():
					res.syncs++
					started <- struct{}{}
				case r.GetUpdate() != nil:
					res.notifs++
				}
				if n%64 == 0 {
					time.Sleep(time.Millisecond) // a reader slower than the fabric
				}
			}
		}()
	}
	for range targets {
		select {
		case <-started:
		case <-ctx.Done():
			t.Fatal("streams did not start")
		}
	}
	time.Sleep(500 * time.Millisecond) // the readers fall behind: time passing is the scenario
	t0 := time.Now()
	if err := f.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	took := time.Since(t0)
	wg.Wait()

	em := f.Emitted()
	var notifs, syncs uint64
	for i, r := range results {
		notifs += r.notifs
		syncs += r.syncs
		if status.Code(r.err) != codes.Unavailable {
			t.Errorf("%s: stream ended with %v, want Unavailable (simulator stopping)", targets[i].Name, r.err)
		}
	}
	if notifs != em.Notifications || syncs != em.SyncResponses {
		t.Fatalf("clients received %d notifications and %d sync responses; Emitted() counts %d and %d (%d lost)",
			notifs, syncs, em.Notifications, em.SyncResponses, int64(em.Notifications)-int64(notifs))
	}
	if took > 4*time.Second {
		t.Errorf("Stop took %s: the graceful stop timed out", took)
	}
	t.Log(fmt.Sprintf("%d notifications over %d streams, all received; Stop took %s", notifs, len(targets), took))
}
