package simulator

import (
	"encoding/binary"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The hot path encodes SubscribeResponse{update: Notification} straight to
// protobuf wire bytes: the prefix and every update path are constant and
// pre-encoded once per entity, so a sample costs a few varints and one
// buffer. The bytes are exactly what proto.Marshal of the equivalent
// gnmi.SubscribeResponse produces (fields in number order), which the
// tests check.

// Field tags (field number << 3 | wire type).
const (
	tagRespUpdate  = 1<<3 | 2 // SubscribeResponse.update
	tagNotifTS     = 1<<3 | 0 // Notification.timestamp
	tagNotifPrefix = 2<<3 | 2 // Notification.prefix
	tagNotifUpdate = 4<<3 | 2 // Notification.update
	tagUpdPath     = 1<<3 | 2 // Update.path
	tagUpdVal      = 3<<3 | 2 // Update.val
	tagTVString    = 1<<3 | 2 // TypedValue.string_val
	tagTVUint      = 3<<3 | 0 // TypedValue.uint_val
	tagTVDouble    = 14<<3 | 1
)

// wireEnt holds the constant encoded parts of an entity's notifications.
type wireEnt struct {
	prefix []byte   // Notification.prefix field, tag included
	paths  [][]byte // per leaf: Update.path field, tag included
	speed  []byte   // TypedValue of the port speed
	up     []byte   // TypedValue "UP"
	down   []byte   // TypedValue "DOWN"
}

func appendField(b []byte, tag uint64, m proto.Message) []byte {
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err) // static, well-formed messages
	}
	b = protowire.AppendVarint(b, tag)
	b = protowire.AppendVarint(b, uint64(len(body)))
	return append(b, body...)
}

func stringTV(s string) []byte {
	b := protowire.AppendVarint(nil, tagTVString)
	b = protowire.AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// newWireEnt pre-encodes the constant parts of an entity's notifications.
func (f *Fabric) newWireEnt(target string, e *entity) *wireEnt {
	w := &wireEnt{
		prefix: appendField(nil, tagNotifPrefix, &gpb.Path{Target: target, Elem: e.elems}),
		up:     stringTV("UP"),
		down:   stringTV("DOWN"),
	}
	speed, _ := speedIdentity(f.cfg.PortSpeedBps)
	w.speed = stringTV(speed)
	for _, lf := range f.schema.leaves(e.kind) {
		w.paths = append(w.paths, appendField(nil, tagUpdPath, &gpb.Path{Elem: lf.rel}))
	}
	return w
}

// wireFor returns the pre-encoded parts for target (the device's name) and e.
func (f *Fabric) wireFor(target string, e *entity) *wireEnt {
	if target == e.dev.name && e.wire != nil {
		return e.wire
	}
	return f.newWireEnt(target, e)
}

// tvLen is the encoded TypedValue length of leaf i.
func (es *entSub) tvLen(i uint8) int {
	v := es.vals[i]
	switch es.leafs[i].kind {
	case kindUint:
		return 1 + protowire.SizeVarint(v)
	case kindDouble:
		return 9
	case kindOper:
		if v == 1 {
			return len(es.wire.up)
		}
		return len(es.wire.down)
	default:
		return len(es.wire.speed)
	}
}

// encode returns the selected leaves as an encoded SubscribeResponse.
func (es *entSub) encode() mem.BufferSlice {
	w := es.wire
	var updLen [16]int
	notifLen := 1 + protowire.SizeVarint(uint64(es.ts)) + len(w.prefix)
	for _, i := range es.sel {
		tl := es.tvLen(i)
		ul := len(w.paths[i]) + 1 + protowire.SizeVarint(uint64(tl)) + tl
		updLen[i] = ul
		notifLen += 1 + protowire.SizeVarint(uint64(ul)) + ul
	}
	total := 1 + protowire.SizeVarint(uint64(notifLen)) + notifLen
	pool := mem.DefaultBufferPool()
	bp := pool.Get(total)
	b := (*bp)[:0]
	b = append(b, tagRespUpdate)
	b = protowire.AppendVarint(b, uint64(notifLen))
	b = append(b, tagNotifTS)
	b = protowire.AppendVarint(b, uint64(es.ts))
	b = append(b, w.prefix...)
	for _, i := range es.sel {
		b = append(b, tagNotifUpdate)
		b = protowire.AppendVarint(b, uint64(updLen[i]))
		b = append(b, w.paths[i]...)
		b = append(b, tagUpdVal)
		tl := es.tvLen(i)
		b = protowire.AppendVarint(b, uint64(tl))
		v := es.vals[i]
		switch es.leafs[i].kind {
		case kindUint:
			b = append(b, tagTVUint)
			b = protowire.AppendVarint(b, v)
		case kindDouble:
			b = append(b, tagTVDouble)
			b = binary.LittleEndian.AppendUint64(b, v)
		case kindOper:
			if v == 1 {
				b = append(b, w.up...)
			} else {
				b = append(b, w.down...)
			}
		default:
			b = append(b, w.speed...)
		}
	}
	*bp = b
	return mem.BufferSlice{mem.NewBuffer(bp, pool)}
}

// rawMsg carries pre-encoded bytes through the codec.
type rawMsg struct{ buf mem.BufferSlice }

// passCodec is the server codec: pre-encoded messages pass through, every
// other message uses the standard protobuf codec.
type passCodec struct{ proto encoding.CodecV2 }

func newPassCodec() passCodec { return passCodec{proto: encoding.GetCodecV2("proto")} }

func (c passCodec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*rawMsg); ok {
		b := r.buf
		r.buf = nil
		return b, nil
	}
	return c.proto.Marshal(v)
}

func (c passCodec) Unmarshal(data mem.BufferSlice, v any) error { return c.proto.Unmarshal(data, v) }

func (passCodec) Name() string { return "proto" }
