// Package config loads the telemetry configuration: one YAML file whose
// top-level keys are sections, every key also settable by an environment
// variable TELEMETRY_<SECTION>_<KEY> (nested keys joined by "_", dashes
// become underscores), validated at start with errors that name the key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	masking "github.com/meshtelemetry/telemetry/common/redact"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "TELEMETRY"

// Validator is implemented by configuration sections that check themselves.
// Errors should start with the offending key relative to the section
// (e.g. "brokers: must not be empty"); Load prefixes the section name.
type Validator interface {
	Validate() error
}

// Load fills into (a pointer to a struct of sections, already holding the
// defaults) from the YAML file at path (skipped when path is empty), then
// from env (KEY=VALUE pairs, as os.Environ returns), then validates every
// section. Unknown keys in the file are errors, and so are a second YAML
// document (a file holds one: what a second one said would be ignored), a
// value with a fraction or an exponent for an integer key (YAML reads 1.5
// as a float, which the decoder would cut to 1), and a number out of the
// range of its key's type, from the file or the environment.
func Load(path string, into any, env []string) error {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := decodeFile(b, into); err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(into, env); err != nil {
		return err
	}
	return validate(into)
}

// decodeFile decodes the one YAML document of b into into.
func decodeFile(b []byte, into any) error {
	// First as nodes: how many documents, and numbers checked against the
	// type of their key before the decoder converts them.
	var doc *yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if emptyDocument(&n) {
			continue
		}
		if doc != nil {
			return fmt.Errorf("line %d: a second YAML document: a configuration file holds one document "+
				"(the second would be ignored); put every section in one", n.Line)
		}
		doc = &n
	}
	if doc == nil {
		return nil // empty file: the defaults
	}
	var bad []string
	checkNumbers(doc, reflect.TypeOf(into), "", &bad)
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	dec = yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	for {
		err := dec.Decode(into) // empty documents leave it as it is
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				// One line naming every bad key, e.g. "line 3: field brokerz not found in type kafka.Configuration".
				return errors.New(strings.Join(te.Errors, "; "))
			}
			return err
		}
	}
}

// emptyDocument reports whether a document holds nothing (a "---" alone,
// comments).
func emptyDocument(n *yaml.Node) bool {
	if n.Kind != yaml.DocumentNode {
		return false
	}
	for _, c := range n.Content {
		if !(c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null" && c.Value == "") {
			return false
		}
	}
	return true
}

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	timeType        = reflect.TypeOf(time.Time{})
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
)

// checkNumbers walks node n, to be decoded into a value of type t at key,
// and adds to bad a "line N: key: ..." for each number given to an integer
// that the decoder would change (a fraction or an exponent: cut) or refuse
// without naming the key (out of the type's range). Keys it does not know
// are left to the decoder, which names them.
func checkNumbers(n *yaml.Node, t reflect.Type, key string, bad *[]string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return // decodes itself
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			checkNumbers(c, t, key, bad)
		}
		return
	case yaml.AliasNode:
		// A number is checked for the key it is given to. Aliases of
		// lists and maps are not followed: this runs before the decoder
		// refuses alias bombs.
		if n.Alias != nil && n.Alias.Kind == yaml.ScalarNode {
			checkNumbers(n.Alias, t, key, bad)
		}
		return
	}
	join := func(k string) string {
		if key == "" {
			return k
		}
		return key + "." + k
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == timeType || n.Kind != yaml.MappingNode {
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if ft, ok := fields[k]; ok {
				checkNumbers(n.Content[i+1], ft, join(k), bad)
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkNumbers(n.Content[i+1], t.Elem(), join(n.Content[i].Value), bad)
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			checkNumbers(c, t.Elem(), fmt.Sprintf("%s[%d]", key, i), bad)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || t == durationType {
			return
		}
		switch n.ShortTag() {
		case "!!float":
			*bad = append(*bad, fmt.Sprintf("line %d: %s: not an integer: %s", n.Line, key, n.Value))
		case "!!int":
			if err := fitsInteger(t, n.Value); err != nil {
				*bad = append(*bad, fmt.Sprintf("line %d: %s: %v", n.Line, key, err))
			}
		}
	}
}

// fieldKey is the configuration key of an exported struct field: its yaml
// tag's name, or its Go name in lower case (yaml.v3's rule); ok is false
// for a field the tag leaves out ("-").
func fieldKey(sf reflect.StructField) (name string, ok bool) {
	name, _, _ = strings.Cut(sf.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(sf.Name), true
	}
	return name, true
}

// yamlFields maps the YAML names of a struct's fields (those of inline
// structs included) to their types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := strings.Split(sf.Tag.Get("yaml"), ",")
		name := tag[0]
		if name == "-" {
			continue
		}
		if slices.Contains(tag[1:], "inline") {
			ft := sf.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				maps.Copy(out, yamlFields(ft))
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out[name] = sf.Type
	}
	return out
}

// fitsInteger checks that s, a YAML integer (decimal, 0x, 0o, 0b, with
// "_" separators), fits the integer type t.
func fitsInteger(t reflect.Type, s string) error {
	plain := strings.ReplaceAll(s, "_", "")
	if strings.HasPrefix(plain, "0o") || strings.HasPrefix(plain, "+0o") || strings.HasPrefix(plain, "-0o") {
		plain = strings.Replace(plain, "0o", "0", 1) // strconv's base 0 reads a leading 0 as octal
	}
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64 {
		if strings.HasPrefix(plain, "-") {
			return fmt.Errorf("must not be negative: %s", s)
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(plain, "+"), 0, 64)
		if err != nil || reflect.New(t).Elem().OverflowUint(n) {
			return fmt.Errorf("out of range (%s): %s", t.Kind(), s)
		}
		return nil
	}
	n, err := strconv.ParseInt(plain, 0, 64)
	if err != nil || reflect.New(t).Elem().OverflowInt(n) {
		return fmt.Errorf("out of range (%s): %s", t.Kind(), s)
	}
	return nil
}

// field is one settable leaf: its dotted key and env name.
type field struct {
	key string
	env string
	v   reflect.Value
}

func leaves(prefixKey, prefixEnv string, v reflect.Value, out *[]field) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, ok := fieldKey(sf)
		if !ok {
			continue
		}
		key := name
		if prefixKey != "" {
			key = prefixKey + "." + name
		}
		env := prefixEnv + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
			leaves(key, env, fv, out)
			continue
		}
		*out = append(*out, field{key: key, env: env, v: fv})
	}
}

// Keys lists every key of the configuration with its environment variable
// and current value, for documentation and --help. Secret values are
// redacted (see IsSecret): a set secret shows as Redacted, an unset one as
// "", also inside lists and maps (webhooks' secrets, Authorization headers);
// a URL's password (or user information without one) and query values
// show as "xxxxx" (common/redact.URL).
func Keys(cfg any) [][3]string {
	var fs []field
	leaves("", EnvPrefix, reflect.ValueOf(cfg).Elem(), &fs)
	out := make([][3]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, [3]string{f.key, f.env, fmt.Sprint(redact(lastName(f.key), f.v).Interface())})
	}
	return out
}

// Redacted replaces a secret's value wherever the configuration is shown.
const Redacted = "******"

// secretWords are key names (or their last dash-separated word) whose values
// are secrets. Keys ending in -file or -env hold a path or a variable name,
// not the secret, and are shown.
var secretWords = []string{"password", "passwd", "passphrase", "secret", "token", "apikey", "api-key",
	"authorization", "cookie", "credentials"}

// IsSecret reports whether a configuration key (its last name, e.g.
// "password" or "sasl.password") or a header name holds a secret: it is, or
// ends in "-"+, one of password, passwd, passphrase, secret, token, apikey,
// api-key, authorization, cookie, credentials (case-insensitive; "_" counts
// as "-"). Names ending in -file or -env are not secrets (they hold a path
// or a variable name).
func IsSecret(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(lastName(name), "_", "-"))
	if strings.HasSuffix(n, "-file") || strings.HasSuffix(n, "-env") {
		return false
	}
	for _, w := range secretWords {
		if n == w || strings.HasSuffix(n, "-"+w) || strings.HasPrefix(n, "x-"+w) {
			return true
		}
	}
	return false
}

// redactURL masks what a URL may hide — user information, query values —
// as everywhere else (common/redact.URL: "https://user:pass@host/?token=t"
// → "https://user:xxxxx@host/?token=xxxxx"), also in a URL that does not
// parse. Text that is more than a URL (a template, several lines) is left
// alone.
func redactURL(s string) (string, bool) {
	if !strings.Contains(s, "://") || strings.ContainsAny(s, "\n{}") {
		return "", false
	}
	r := masking.URL(s)
	return r, r != s
}

func lastName(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// redact returns v, or a copy of it with every secret replaced: v itself
// when name is a secret string, and fields, list elements and map values
// whose names are secrets inside it. Nothing is modified in place.
func redact(name string, v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		if IsSecret(name) && v.Len() > 0 {
			return reflect.ValueOf(Redacted).Convert(v.Type())
		}
		if r, ok := redactURL(v.String()); ok {
			return reflect.ValueOf(r).Convert(v.Type())
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return v
		}
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			if fname, ok := fieldKey(sf); ok {
				c.Field(i).Set(redact(fname, v.Field(i)))
			}
		}
		return c
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return v
		}
		var c reflect.Value
		if v.Kind() == reflect.Slice {
			c = reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		} else {
			c = reflect.New(v.Type()).Elem()
		}
		for i := 0; i < v.Len(); i++ {
			c.Index(i).Set(redact(name, v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			kname := name
			if k.Kind() == reflect.String {
				kname = k.String()
			}
			c.SetMapIndex(k, redact(kname, iter.Value()))
		}
		return c
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(redact(name, v.Elem()))
		return c
	}
	return v
}

func applyEnv(into any, env []string) error {
	vals := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, EnvPrefix+"_") {
			vals[k] = v
		}
	}
	if len(vals) == 0 {
		return nil
	}
	var fs []field
	leaves("", EnvPrefix, reflect.ValueOf(into).Elem(), &fs)
	for _, f := range fs {
		s, ok := vals[f.env]
		if !ok {
			continue
		}
		if err := set(f.v, s); err != nil {
			return fmt.Errorf("config: %s (from %s): %w", f.key, f.env, err)
		}
	}
	return nil
}

func set(v reflect.Value, s string) error {
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration: %q", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil && errors.Is(err, strconv.ErrRange) || err == nil && v.OverflowInt(n) {
			return fmt.Errorf("out of range (%s): %q", v.Kind(), s)
		}
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil && errors.Is(err, strconv.ErrRange) || err == nil && v.OverflowUint(n) {
			return fmt.Errorf("out of range (%s): %q", v.Kind(), s)
		}
		if err != nil {
			return fmt.Errorf("not a non-negative integer: %q", s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || v.OverflowFloat(n) {
			return fmt.Errorf("not a number of its range (%s): %q", v.Kind(), s)
		}
		v.SetFloat(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment; use the config file")
		}
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		v.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot be set from the environment; use the config file")
	}
	return nil
}

func validate(into any) error {
	v := reflect.ValueOf(into).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, ok := fieldKey(sf)
		if !ok {
			continue
		}
		fv := v.Field(i)
		if fv.CanAddr() {
			if val, ok := fv.Addr().Interface().(Validator); ok {
				if err := val.Validate(); err != nil {
					return fmt.Errorf("config: %s.%w", name, err)
				}
			}
		}
	}
	return nil
}

// notSettings are the prefixes of TELEMETRY_ variables that are no
// configuration key and are not warned about: the test kit's services
// (TELEMETRY_TEST_*), the soak and benchmark switches of the long suites
// (TELEMETRY_SOAK*, TELEMETRY_BENCH*) and scripts/services.sh's state
// directory (TELEMETRY_SERVICES_DIR).
var notSettings = []string{EnvPrefix + "_TEST_", EnvPrefix + "_SOAK", EnvPrefix + "_BENCH", EnvPrefix + "_SERVICES_DIR"}

// UnknownEnv returns one warning for each TELEMETRY_ variable of env that
// sets no key of cfg (a misspelling is otherwise silently ignored), naming
// the nearest key when one is close: "TELEMETRY_KAFKA_BROKER is not a
// setting; did you mean TELEMETRY_KAFKA_BROKERS?". Not warned about: the
// variables of notSettings, those a "-env" key of cfg names (a webhook's
// secret-env, a target's password-env), and those whose name holds a
// secret (…_PASSWORD, …_TOKEN, see IsSecret) with no key close to it,
// which a targets file's password-env may name. Sorted by variable.
func UnknownEnv(cfg any, env []string) []string {
	var fs []field
	leaves("", EnvPrefix, reflect.ValueOf(cfg).Elem(), &fs)
	keys := make(map[string]bool, len(fs))
	for _, f := range fs {
		keys[f.env] = true
	}
	named := map[string]bool{}
	envNames(reflect.ValueOf(cfg), "", named)
	var out []string
	seen := map[string]bool{}
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") || keys[name] || named[name] || seen[name] {
			continue
		}
		seen[name] = true
		if slices.ContainsFunc(notSettings, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		near, d := "", -1
		for _, f := range fs {
			if dd := editDistance(name, f.env); d < 0 || dd < d || dd == d && f.env < near {
				near, d = f.env, dd
			}
		}
		if d < 0 || d > max(2, (len(name)-len(EnvPrefix)-1)/5) {
			if IsSecret(name) {
				continue
			}
			out = append(out, name+" is not a setting (telemetry config keys lists them); ignored")
			continue
		}
		out = append(out, name+" is not a setting; did you mean "+near+"?")
	}
	slices.Sort(out)
	return out
}

// envNames adds to out the values of every string field whose YAML name
// ends in "-env" (the name of a variable holding a secret), at any depth.
func envNames(v reflect.Value, name string, out map[string]bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			envNames(v.Elem(), name, out)
		}
	case reflect.String:
		if strings.HasSuffix(name, "-env") && v.Len() > 0 {
			out[v.String()] = true
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			if fname, ok := fieldKey(sf); ok {
				envNames(v.Field(i), fname, out)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			envNames(v.Index(i), name, out)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			envNames(iter.Value(), name, out)
		}
	}
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
