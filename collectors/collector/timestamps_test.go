package collector

import (
	"testing"
	"time"

	"github.com/openconfig/gnmi/proto/gnmi"

	"github.com/meshtelemetry/telemetry/common/testenv"
)

// implausibleStamps are notification timestamps a device sends by mistake,
// each of which would be stored as 1970 (or far ahead) if taken, with the
// one just inside each bound that is taken. recv is the receive time.
func implausibleStamps(recv int64) (bad map[string]int64, good map[string]int64) {
	now := time.Unix(0, recv)
	return map[string]int64{
			"1 ns":                   1,
			"seconds":                now.Unix(),
			"milliseconds":           now.UnixMilli(),
			"microseconds":           now.UnixMicro(),
			"negative":               -now.UnixNano(),
			"just before 2000":       minDeviceTime - 1,
			"more than 1 h ahead":    recv + int64(maxFuture) + 1,
			"a century ahead":        now.AddDate(100, 0, 0).UnixNano(),
			"seconds of a year away": now.AddDate(1, 0, 0).Unix(),
		}, map[string]int64{
			"minDeviceTime exactly": minDeviceTime,
			"now":                   recv,
			"1 h ahead":             recv + int64(maxFuture),
			"a day ago":             now.AddDate(0, 0, -1).UnixNano(),
		}
}

// TestImplausibleTimestampsCounted: a notification stamped 1 ns, in
// seconds, milliseconds or microseconds (stored as 1970 before), or out of
// the plausible range, is counted bad_timestamp and its samples carry the
// receive time, in both decoders alike; a timestamp inside the range is
// kept as it is.
func TestImplausibleTimestampsCounted(t *testing.T) {
	recv := testenv.Now().UnixNano()
	bad, good := implausibleStamps(recv)
	d := newDecoder(testMatcher(t), "d", "s", "c", 100)
	up := []*gnmi.Update{{Path: ifPath("e", "state", "oper-status"), Val: sval("UP")}}
	for name, ts := range bad {
		d.errs = [numReasons]uint64{}
		out := decodeCheck(t, d, &gnmi.Notification{Timestamp: ts, Update: up}, recv)
		if len(out) != 1 || d.errs[reasonBadTimestamp] != 1 || out[0].DeviceTimeUnixNano != recv {
			t.Errorf("%s (%d): %v, errors %v: want one sample at the receive time, bad_timestamp counted", name, ts, out, d.errs)
		}
	}
	for name, ts := range good {
		d.errs = [numReasons]uint64{}
		out := decodeCheck(t, d, &gnmi.Notification{Timestamp: ts, Update: up}, recv)
		if len(out) != 1 || d.errs != [numReasons]uint64{} || out[0].DeviceTimeUnixNano != ts {
			t.Errorf("%s (%d): %v, errors %v: want one sample at its own time", name, ts, out, d.errs)
		}
	}
}

// TestImplausibleTimestampsThroughKafka: a target whose clock sends
// seconds or 1 ns: its samples reach the real broker stamped with the
// receive time, not 1970, and telemetry_collector_decode_errors_total
// counts bad_timestamp for it.
func TestImplausibleTimestampsThroughKafka(t *testing.T) {
	kc := realKafka(t)
	got := consume(t, kc)
	stamps := []int64{1, time.Now().Unix(), time.Now().UnixMilli()}
	addr := serveFake(t, func(target string, srv gnmi.GNMI_SubscribeServer) error {
		for i, ts := range stamps {
			n := &gnmi.Notification{Timestamp: ts, Update: []*gnmi.Update{
				{Path: ifPath("e"+string(rune('0'+i)), "state", "oper-status"), Val: sval("UP")}}}
			if err := srv.Send(&gnmi.SubscribeResponse{Response: &gnmi.SubscribeResponse_Update{Update: n}}); err != nil {
				return err
			}
		}
		if err := sendSync(srv); err != nil {
			return err
		}
		<-srv.Context().Done()
		return nil
	})
	cfg := testConfig("c1")
	cfg.Targets = []TargetConfig{{Name: "site1-clock", Address: addr}}
	before := time.Now().UnixNano()
	c := startCollector(t, cfg, kc)
	testenv.Eventually(t, 20*time.Second, "the three interface samples on Kafka", func() bool {
		n := 0
		for _, s := range got.snapshot() {
			if s.GetInterface() != nil {
				n++
			}
		}
		return n >= len(stamps)
	})
	after := time.Now().UnixNano()
	for _, s := range got.snapshot() {
		if s.GetInterface() == nil {
			continue
		}
		if ts := s.DeviceTimeUnixNano; ts < before || ts > after {
			t.Errorf("sample of %s stamped %s, want the receive time (between %s and %s)", s.GetInterface().Interface,
				time.Unix(0, ts).UTC(), time.Unix(0, before).UTC(), time.Unix(0, after).UTC())
		}
	}
	if v := counterValue(c.m.decodeErrors.WithLabelValues("site1-clock", "bad_timestamp")); v != float64(len(stamps)) {
		t.Errorf("decode_errors_total{reason=bad_timestamp} = %v, want %d", v, len(stamps))
	}
}
