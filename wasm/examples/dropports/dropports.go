// Command dropports is an edge processor (hook collect) that drops the
// samples of interfaces nobody wants on the dashboards: management ports,
// loopbacks, and whatever matches Patterns (path.Match globs on the
// interface name, case-insensitive). Other samples pass untouched. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o dropports.wasm ./wasm/examples/dropports
package main

import (
	"path"
	"strings"
	"unsafe"

	"github.com/meshtelemetry/telemetry/wasm/guest"
)

func main() {}

// Patterns are the interfaces dropped. A module has no configuration file
// (no filesystem): edit, build and ship a new version (it is hot-reloaded).
var Patterns = []string{
	"mgmt*", "management*", "fxp*", "me*",
	"lo*", "loopback*",
	"null*",
}

// Dropped reports whether the interface name matches a pattern.
func Dropped(name string) bool {
	low := strings.ToLower(name)
	for _, p := range Patterns {
		if ok, _ := path.Match(p, low); ok {
			return true
		}
	}
	return false
}

// dropports drops the samples whose interface is dropped. It uses the
// names view (guest.CollectNames): it only reads interface names.
func dropports(v *guest.Names) {
	for i := range v.Len() {
		if name := v.Name(i); len(name) > 0 && Dropped(unsafe.String(&name[0], len(name))) {
			v.Drop(i)
		}
	}
}
