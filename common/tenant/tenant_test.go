package tenant

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

func twoTenants() Configuration {
	c := DefaultConfiguration()
	c.Tenants = []Tenant{
		{ID: "acme", Name: "ACME Corp", Sites: []string{"par", "ams"}, Targets: []string{"fra-sw9"}, MaxTargets: 10},
		{ID: "globex", Sites: []string{"fra"}, MaxSamplesPerSecond: 1000},
	}
	return c
}

func TestValidateNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Configuration)
		want string
	}{
		{func(c *Configuration) { c.DefaultTenant = "" }, "default-tenant: must not be empty"},
		{func(c *Configuration) { c.DefaultTenant = "Default" }, "default-tenant: \"Default\" is not a tenant id"},
		{func(c *Configuration) { c.Tenants[1].ID = "1x" }, "tenants[1].id: \"1x\" is not a tenant id"},
		{func(c *Configuration) { c.Tenants[1].ID = "a-b" }, "tenants[1].id:"},
		{func(c *Configuration) { c.Tenants[1].ID = strings.Repeat("a", 33) }, "tenants[1].id: \"aaaa"},
		{func(c *Configuration) { c.Tenants[1].ID = "acme" }, "tenants[acme].id: \"acme\" declared twice"},
		{func(c *Configuration) { c.Tenants[1].Sites = []string{"ams"} }, "tenants[globex].sites: \"ams\" is owned by tenant \"acme\" already"},
		{func(c *Configuration) { c.Tenants[0].Sites = []string{"par", "par"} }, "tenants[acme].sites: \"par\" listed twice"},
		{func(c *Configuration) { c.Tenants[1].Targets = []string{"fra-sw9"} }, "tenants[globex].targets: \"fra-sw9\" is owned by tenant \"acme\""},
		{func(c *Configuration) { c.Tenants[1].Sites = []string{"a\u202eb"} }, "tenants[globex].sites: \"a\\u202eb\" has U+202E"},
		{func(c *Configuration) { c.Tenants[1].Name = "x\n" }, "tenants[globex].name:"},
		{func(c *Configuration) { c.Tenants[0].MaxTargets = -1 }, "tenants[acme].max-targets: must not be negative"},
		{func(c *Configuration) { c.Tenants[0].MaxSamplesPerSecond = -1 }, "tenants[acme].max-samples-per-second: must not be negative"},
	} {
		c := twoTenants()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want an error starting with %q", err, tc.want)
		}
	}
	c := twoTenants()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	d := DefaultConfiguration()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	// A site may share its name with a target: they are different things.
	c.Tenants[1].Targets = []string{"par"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestResolutionOrder(t *testing.T) {
	r, err := NewResolver(twoTenants())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ site, target, want string }{
		{"par", "par-sw1", "acme"},      // site ownership
		{"fra", "fra-sw1", "globex"},    // site ownership
		{"fra", "fra-sw9", "acme"},      // target ownership wins over the site's
		{"lon", "lon-sw1", "default"},   // nobody's
		{"", "", "default"},             //
		{"lon", "fra-sw9", "acme"},      // the target wherever it is
		{"PAR", "PAR-sw1", Default},     // names are exact
		{"ams", "ams-sw1", "acme"},      //
		{"fra", "fra-sw10", "globex"},   //
		{"par ", "par -sw1", "default"}, //
	} {
		if got := r.Of(tc.site, tc.target); got != tc.want {
			t.Errorf("Of(%q, %q) = %q, want %q", tc.site, tc.target, got, tc.want)
		}
	}
	// An explicit tenant comes first, and must agree with the section.
	for _, tc := range []struct{ explicit, site, target, want, err string }{
		{"", "par", "par-sw1", "acme", ""},
		{"acme", "par", "par-sw1", "acme", ""},
		{"globex", "lon", "lon-sw1", "globex", ""},
		{"default", "lon", "lon-sw1", "default", ""},
		{"acme", "fra", "fra-sw9", "acme", ""},
		{"globex", "par", "par-sw1", "", `"globex", but site "par" belongs to tenant "acme" (tenancy.tenants[acme].sites)`},
		{"globex", "fra", "fra-sw9", "", `"globex", but tenancy.tenants[acme].targets lists "fra-sw9"`},
		{"initech", "lon", "lon-sw1", "", `"initech" is not a declared tenant`},
		{"Bad", "lon", "lon-sw1", "", `"Bad" is not a tenant id`},
	} {
		got, err := r.Target(tc.explicit, tc.site, tc.target)
		if tc.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tc.err) {
				t.Errorf("Target(%q, %q, %q): %v, want %q", tc.explicit, tc.site, tc.target, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Target(%q, %q, %q) = %q, %v; want %q", tc.explicit, tc.site, tc.target, got, err, tc.want)
		}
	}
}

func TestIDsAreBoundedAndSorted(t *testing.T) {
	r, err := NewResolver(twoTenants())
	if err != nil {
		t.Fatal(err)
	}
	if got := r.IDs(); !slices.Equal(got, []string{"acme", "default", "globex"}) {
		t.Fatalf("IDs() = %v", got)
	}
	r.IDs()[0] = "x" // a copy
	if r.IDs()[0] != "acme" {
		t.Fatal("IDs() shares its slice")
	}
	if !r.Multi() {
		t.Fatal("two tenants declared: Multi() false")
	}
	for id, want := range map[string]string{"": "default", "default": "default", "acme": "acme"} {
		if got := r.Stamp(id); got != want {
			t.Errorf("tenants declared: Stamp(%q) = %q, want %q", id, got, want)
		}
	}
	// The default tenant may be declared (a name, limits): listed once.
	c := twoTenants()
	c.DefaultTenant = "provider"
	c.Tenants = append(c.Tenants, Tenant{ID: "provider", Name: "The Provider", MaxSamplesPerSecond: 5})
	r, err = NewResolver(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.IDs(); !slices.Equal(got, []string{"acme", "globex", "provider"}) {
		t.Fatalf("IDs() = %v", got)
	}
	if tn, ok := r.Tenant("provider"); !ok || tn.DisplayName() != "The Provider" || tn.MaxSamplesPerSecond != 5 {
		t.Fatalf("Tenant(provider) = %+v, %v", tn, ok)
	}
	if r.Of("lon", "x") != "provider" || r.Or("") != "provider" || r.Or("acme") != "acme" {
		t.Fatal("default tenant not used")
	}
	for _, id := range []string{"acme", "globex", "provider"} {
		if err := r.Check(id); err != nil {
			t.Errorf("Check(%q): %v", id, err)
		}
	}
	for _, id := range []string{"default", "", "initech", "ACME"} {
		if r.Known(id) {
			t.Errorf("Known(%q) = true", id)
		}
	}
}

func TestNilResolverIsSingleTenant(t *testing.T) {
	var r *Resolver
	if r.Default() != Default || r.Of("par", "par-sw1") != Default || r.Or("") != Default || r.Multi() {
		t.Fatal("nil resolver is not the single-tenant one")
	}
	if got := r.IDs(); !slices.Equal(got, []string{Default}) {
		t.Fatalf("IDs() = %v", got)
	}
	if err := r.Check(Default); err != nil {
		t.Fatal(err)
	}
	if err := r.Check("acme"); err == nil {
		t.Fatal("nil resolver knows acme")
	}
	if got, err := r.Target("", "par", "par-sw1"); got != Default || err != nil {
		t.Fatalf("Target = %q, %v", got, err)
	}
	if tn, ok := r.Tenant(Default); ok || tn.DisplayName() != Default {
		t.Fatalf("Tenant(default) = %+v, %v", tn, ok)
	}
	// Single-tenant records are written as before tenants existed.
	if r.Stamp("") != "" || r.Stamp(Default) != "" {
		t.Fatal("a single-tenant resolver stamps the default tenant")
	}
	// The single-tenant configuration resolves the same way.
	r2, err := NewResolver(DefaultConfiguration())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r2.IDs(), r.IDs()) || r2.Multi() || r2.Of("par", "x") != Default || r2.Stamp("") != "" {
		t.Fatal("the default configuration is not single-tenant")
	}
	// Declaring the default tenant alone (a name, limits) stays single-tenant.
	c := DefaultConfiguration()
	c.Tenants = []Tenant{{ID: Default, MaxSamplesPerSecond: 10}}
	r3, err := NewResolver(c)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Multi() || !r3.Declared() || r2.Declared() || r.Declared() || r3.Stamp(Default) != "" || !slices.Equal(r3.IDs(), []string{Default}) {
		t.Fatal("the default tenant declared alone is not single-tenant")
	}
}

func TestNewResolverCopies(t *testing.T) {
	c := twoTenants()
	r, err := NewResolver(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Tenants[0].Sites[0] = "lon"
	if r.Of("par", "x") != "acme" || r.Of("lon", "x") != Default {
		t.Fatal("the resolver follows changes to its configuration")
	}
	c.Tenants[0].ID = "Bad"
	if _, err := NewResolver(c); err == nil || !strings.HasPrefix(err.Error(), "tenancy.tenants[0].id:") {
		t.Fatalf("got %v", err)
	}
}

var idRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func FuzzCheckID(f *testing.F) {
	for _, s := range []string{"acme", "a", "a_1", "", "1a", "A", "a-b", "é", strings.Repeat("a", 32), strings.Repeat("a", 33), "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), idRE.MatchString(s); got != want {
			t.Fatalf("Valid(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
