package guest

import (
	"encoding/binary"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	long := strings.Repeat("x", 5000) // past the first room for edits
	var v Names
	v.Reset(AppendNamesView(nil, []string{"a", "", "Ethernet1", "b", "c"}))
	if v.Len() != 5 || string(v.Name(0)) != "a" || len(v.Name(1)) != 0 || string(v.Name(2)) != "Ethernet1" {
		t.Fatalf("view: %d samples, %q %q %q", v.Len(), v.Name(0), v.Name(1), v.Name(2))
	}
	v.Rename(2, []byte("eth1"))
	v.Rename(1, []byte("ignored: before the last edit"))
	v.Drop(2) // ignored: the same sample again
	v.Drop(3)
	v.Rename(4, []byte(long))
	v.Rename(5, []byte("ignored: past the batch"))
	v.Drop(-1)
	var want []byte
	le := binary.LittleEndian
	want = le.AppendUint32(le.AppendUint32(want, 2), 4)
	want = append(want, "eth1"...)
	want = le.AppendUint32(le.AppendUint32(want, 3), 0xffffffff)
	want = le.AppendUint32(le.AppendUint32(want, 4), uint32(len(long)))
	want = append(want, long...)
	if string(v.Edits()) != string(want) {
		t.Fatalf("edits %q…, want %q…", v.Edits()[:min(40, len(v.Edits()))], want[:40])
	}
	v.Reset(AppendNamesView(nil, []string{"a"}))
	if len(v.Edits()) != 0 {
		t.Fatal("edits left after Reset")
	}
	for _, bad := range [][]byte{nil, {1, 0, 0}, {9, 0, 0, 0, 1, 0, 0, 0}} {
		v.Reset(bad)
		if v.Len() != 0 {
			t.Errorf("view %v: %d samples", bad, v.Len())
		}
	}
}
