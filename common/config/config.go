// Package config loads the telemetry configuration: one YAML file whose
// top-level keys are sections, every key also settable by an environment
// variable TELEMETRY_<SECTION>_<KEY> (nested keys joined by "_", dashes
// become underscores), validated at start with errors that name the key.
package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
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
// section. Unknown keys in the file are errors.
func Load(path string, into any, env []string) error {
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil && !errors.Is(err, io.EOF) {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				// One line naming every bad key, e.g. "line 3: field brokerz not found in type kafka.Configuration".
				return fmt.Errorf("config %s: %s", path, strings.Join(te.Errors, "; "))
			}
			return fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := applyEnv(into, env); err != nil {
		return err
	}
	return validate(into)
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
		name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
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
// the password of any URL with user information shows as "xxxxx".
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

// redactURL hides the password of a URL with user information
// ("https://user:pass@host/" → "https://user:xxxxx@host/").
func redactURL(s string) (string, bool) {
	if !strings.Contains(s, "://") || !strings.Contains(s, "@") {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return "", false
	}
	if _, has := u.User.Password(); !has {
		return "", false
	}
	return u.Redacted(), true
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
			fname := strings.Split(sf.Tag.Get("yaml"), ",")[0]
			if fname == "" || fname == "-" {
				fname = strings.ToLower(sf.Name)
			}
			c.Field(i).Set(redact(fname, v.Field(i)))
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
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not a non-negative integer: %q", s)
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
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
		name := strings.Split(sf.Tag.Get("yaml"), ",")[0]
		if name == "" {
			name = strings.ToLower(sf.Name)
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
