package wire

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meshtelemetry/telemetry/wire/wirepb"
)

// KPIDecoder decodes telemetry.kpis record values with one allocation (the
// KPI id, unique per record), like SampleDecoder does for samples: one
// reused KPI and bodies, interned site, device, entity and tenant names. It accepts exactly what DecodeKPI accepts
// (FuzzKPIDecoder checks it against DecodeKPI) and returns the same error
// classes (ErrMalformed, ErrUnknownVersion, ErrEmpty). Unknown fields are
// skipped, not kept.
//
// The KPI that Decode returns, and everything it points to, belongs to the
// decoder and is overwritten by the next call: copy what must outlive it.
// A KPIDecoder is not safe for concurrent use; use one per goroutine.
type KPIDecoder struct {
	k      wirepb.KPI
	ifBody wirepb.KPI_Interface
	iface  wirepb.InterfaceKPI
	lkBody wirepb.KPI_Link
	link   wirepb.LinkKPI
	plBody wirepb.KPI_Pipeline
	pipe   wirepb.PipelineKPI
	dvBody wirepb.KPI_DeviceKpi
	dev    wirepb.DeviceKPI
	interner
}

// NewKPIDecoder returns a decoder with an empty intern table.
func NewKPIDecoder() *KPIDecoder {
	d := &KPIDecoder{interner: interner{intern: map[string]string{}}}
	d.ifBody.Interface = &d.iface
	d.lkBody.Link = &d.link
	d.plBody.Pipeline = &d.pipe
	d.dvBody.DeviceKpi = &d.dev
	return d
}

// NewAliasingKPIDecoder returns a decoder whose strings, the id included,
// point into the bytes given to Decode instead of being interned or
// copied: no allocation at all. The same caveat as
// NewAliasingSampleDecoder applies.
func NewAliasingKPIDecoder() *KPIDecoder {
	d := NewKPIDecoder()
	d.alias = true
	return d
}

// Decode decodes a telemetry.kpis record value. The error wraps
// ErrMalformed or ErrUnknownVersion, or is ErrEmpty, like DecodeKPI. The
// returned KPI is reused by the next call (see KPIDecoder).
func (d *KPIDecoder) Decode(buf []byte) (*wirepb.KPI, error) {
	k := &d.k
	*k = wirepb.KPI{}
	var body protowire.Number // 0 none, 10 interface, 11 link, 12 pipeline, 13 device
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return nil, malformed(err)
		}
		buf = buf[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			k.Version = uint32(v)
		case num == 2 && typ == protowire.BytesType:
			// Unique per KPI: not worth interning.
			k.Id, err = d.once(b)
		case num == 3 && typ == protowire.BytesType:
			k.Site, err = d.str(b)
		case num == 4 && typ == protowire.BytesType:
			k.Device, err = d.str(b)
		case num == 5 && typ == protowire.VarintType:
			k.WindowStartUnixNano = int64(v)
		case num == 6 && typ == protowire.VarintType:
			k.WindowEndUnixNano = int64(v)
		case num == 7 && typ == protowire.VarintType:
			k.Samples = uint32(v)
		case num == 8 && typ == protowire.BytesType:
			k.Tenant, err = d.str(b)
		case num >= 10 && num <= 13 && typ == protowire.BytesType:
			// A oneof member seen again merges into the same message; a
			// different member replaces it.
			if body != num {
				switch num {
				case 10:
					d.iface = wirepb.InterfaceKPI{}
				case 11:
					d.link = wirepb.LinkKPI{}
				case 12:
					d.pipe = wirepb.PipelineKPI{}
				case 13:
					d.dev = wirepb.DeviceKPI{}
				}
			}
			body = num
			switch num {
			case 10:
				err = d.decodeInterface(b)
			case 11:
				err = d.decodeLink(b)
			case 12:
				err = d.decodePipeline(b)
			case 13:
				err = d.decodeDevice(b)
			}
		}
		if err != nil {
			return nil, malformed(err)
		}
	}
	if k.Version == 0 || k.Version > Version {
		return nil, fmt.Errorf("%w: %d (this build reads up to %d)", ErrUnknownVersion, k.Version, Version)
	}
	switch body {
	case 10:
		k.Body = &d.ifBody
	case 11:
		k.Body = &d.lkBody
	case 12:
		k.Body = &d.plBody
	case 13:
		k.Body = &d.dvBody
	default:
		return nil, ErrEmpty
	}
	return k, nil
}

// f64 is a double field's value, or false when the wire type is not fixed64.
func f64(typ protowire.Type, v uint64) (float64, bool) {
	return math.Float64frombits(v), typ == protowire.Fixed64Type
}

func (d *KPIDecoder) decodeInterface(buf []byte) error {
	x := &d.iface
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch num {
		case 1:
			if typ == protowire.BytesType {
				if x.Interface, err = d.str(b); err != nil {
					return err
				}
			}
		case 9:
			if typ == protowire.VarintType {
				x.SpeedBps = v
			}
		case 14:
			if typ == protowire.VarintType {
				x.OperStatus = wirepb.OperStatus(int32(v))
			}
		default:
			f, ok := f64(typ, v)
			if !ok {
				continue
			}
			switch num {
			case 2:
				x.UtilIn = f
			case 3:
				x.UtilOut = f
			case 4:
				x.LossRatio = f
			case 5:
				x.InErrorsPs = f
			case 6:
				x.InDiscardsPs = f
			case 7:
				x.OutDiscardsPs = f
			case 8:
				x.OutErrorsPs = f
			case 10:
				x.InBps = f
			case 11:
				x.OutBps = f
			case 12:
				x.InPps = f
			case 13:
				x.OutPps = f
			}
		}
	}
	return nil
}

func (d *KPIDecoder) decodeLink(buf []byte) error {
	x := &d.link
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch num {
		case 1, 2:
			if typ != protowire.BytesType {
				continue
			}
			s, err := d.str(b)
			if err != nil {
				return err
			}
			if num == 1 {
				x.DstSite = s
			} else {
				x.DstDevice = s
			}
		case 9:
			if typ == protowire.VarintType {
				x.ProbesSent = v
			}
		case 10:
			if typ == protowire.VarintType {
				x.ProbesReceived = v
			}
		default:
			f, ok := f64(typ, v)
			if !ok {
				continue
			}
			switch num {
			case 3:
				x.RttMs = f
			case 4:
				x.RttP50Ms = f
			case 5:
				x.RttP95Ms = f
			case 6:
				x.RttP99Ms = f
			case 7:
				x.JitterMs = f
			case 8:
				x.LossRatio = f
			}
		}
	}
	return nil
}

func (d *KPIDecoder) decodePipeline(buf []byte) error {
	x := &d.pipe
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch num {
		case 1:
			if typ == protowire.BytesType {
				if x.Instance, err = d.str(b); err != nil {
					return err
				}
			}
		case 5:
			if typ == protowire.VarintType {
				x.Samples = v
			}
		default:
			f, ok := f64(typ, v)
			if !ok {
				continue
			}
			switch num {
			case 2:
				x.DelayP50Ms = f
			case 3:
				x.DelayP99Ms = f
			case 4:
				x.DelayMaxMs = f
			}
		}
	}
	return nil
}

func (d *KPIDecoder) decodeDevice(buf []byte) error {
	x := &d.dev
	for len(buf) > 0 {
		num, typ, v, b, n, err := field(buf)
		if err != nil {
			return err
		}
		buf = buf[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			x.Reachable = uint32(v)
		case num == 2 && typ == protowire.VarintType:
			x.State = wirepb.DeviceState(int32(v))
		case num == 3 && typ == protowire.BytesType:
			// Repeats window after window while a device is down: interned.
			if x.LastError, err = d.str(b); err != nil {
				return err
			}
		case num == 4 && typ == protowire.Fixed64Type:
			x.UpRatio, _ = f64(typ, v)
		}
	}
	return nil
}
