package dashboards

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
)

// TimeRange is what Grafana sends with a query: the dashboard's time range
// and the panel's interval (range / max data points, rounded).
type TimeRange struct {
	From, To time.Time
	Interval time.Duration
}

// MacroNames lists the ClickHouse plugin macros Expand supports, as the
// plugin (grafana-clickhouse-datasource v4, pkg/macros) expands them.
func MacroNames() []string {
	names := make([]string, 0, len(macroFuncs))
	for n := range macroFuncs {
		names = append(names, "$__"+n)
	}
	sort.Strings(names)
	return names
}

type macroFunc func(r TimeRange, args []string) (string, error)

func dt(t time.Time) string   { return fmt.Sprintf("toDateTime(%d)", t.Unix()) }
func dt64(t time.Time) string { return fmt.Sprintf("fromUnixTimestamp64Milli(%d)", t.UnixMilli()) }
func date(t time.Time) string { return fmt.Sprintf("toDate('%s')", t.UTC().Format("2006-01-02")) }

func oneArg(name string, f func(r TimeRange, col string) string) macroFunc {
	return func(r TimeRange, args []string) (string, error) {
		if len(args) != 1 || args[0] == "" {
			return "", fmt.Errorf("$__%s: expected 1 argument, got %d", name, len(args))
		}
		return f(r, args[0]), nil
	}
}

func noArg(f func(r TimeRange) string) macroFunc {
	return func(r TimeRange, args []string) (string, error) { return f(r), nil }
}

func intervalSeconds(r TimeRange) int { return int(math.Max(r.Interval.Seconds(), 1)) }

var macroFuncs = map[string]macroFunc{
	"fromTime":    noArg(func(r TimeRange) string { return dt(r.From) }),
	"toTime":      noArg(func(r TimeRange) string { return dt(r.To) }),
	"fromTime_ms": noArg(func(r TimeRange) string { return dt64(r.From) }),
	"toTime_ms":   noArg(func(r TimeRange) string { return dt64(r.To) }),
	"interval_s":  noArg(func(r TimeRange) string { return fmt.Sprint(intervalSeconds(r)) }),
	"timeFilter": oneArg("timeFilter", func(r TimeRange, c string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", c, dt(r.From), c, dt(r.To))
	}),
	"timeFilter_ms": oneArg("timeFilter_ms", func(r TimeRange, c string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", c, dt64(r.From), c, dt64(r.To))
	}),
	"dateFilter": oneArg("dateFilter", func(r TimeRange, c string) string {
		return fmt.Sprintf("%s >= %s AND %s <= %s", c, date(r.From), c, date(r.To))
	}),
	// toStartOfInterval does not exist on ClickHouse 18.16: our panels bucket
	// with intDiv on $__interval_s instead; the macro is here for completeness.
	"timeInterval": oneArg("timeInterval", func(r TimeRange, c string) string {
		return fmt.Sprintf("toStartOfInterval(toDateTime(%s), INTERVAL %d second)", c, intervalSeconds(r))
	}),
	"timeInterval_ms": oneArg("timeInterval_ms", func(r TimeRange, c string) string {
		ms := int(math.Max(float64(r.Interval.Milliseconds()), 1))
		return fmt.Sprintf("toStartOfInterval(toDateTime64(%s, 3), INTERVAL %d millisecond)", c, ms)
	}),
}

// AllValue is the value Grafana gives a variable whose "All" option is
// selected. In the vars of Expand, a variable whose first value is AllValue
// has All selected; its other values are the options All stands for.
const AllValue = "$__all"

// conditionalAll is the plugin's $__conditionalAll(condition, $variable)
// macro, which it applies before the template variables.
const conditionalAll = "$__conditionalAll("

// Expand does to a panel's SQL what Grafana and the ClickHouse plugin do
// before it reaches ClickHouse, in their order:
//
//  1. the plugin's frontend applies $__conditionalAll(condition, $var):
//     1=1 when var's current value, as text, is "$__all" or empty, the
//     condition otherwise (applyConditionalAll, from the last occurrence);
//  2. Grafana interpolates the template variables ($name, ${name},
//     ${name:format}, [[name]], [[name:format]]; formatValue below, with the
//     plugin's own default format when none is given);
//  3. the plugin's backend expands its macros ($__timeFilter(col),
//     $__fromTime, ... see MacroNames) over the whole text, string literals
//     included.
//
// Every variable of vars is multi-value, as the dashboards' are: its
// values are the selected options' values (with All: AllValue, then every
// option's value). Where Grafana would leave a reference alone (an unknown
// variable or format, a field path, a $__conditionalAll it cannot read),
// Expand returns an error, so nothing unexpanded reaches a test server.
func Expand(sql string, r TimeRange, vars map[string][]string) (string, error) {
	sql, err := expandConditionalAll(sql, vars)
	if err != nil {
		return "", err
	}
	sql, err = interpolate(sql, vars)
	if err != nil {
		return "", err
	}
	return expandMacros(sql, r)
}

// expandMacros is the backend's pass: $__name and $__name(args) anywhere
// in the text.
func expandMacros(sql string, r TimeRange) (string, error) {
	var out strings.Builder
	for i := 0; i < len(sql); {
		c := sql[i]
		if c != '$' || !strings.HasPrefix(sql[i+1:], "__") {
			out.WriteByte(c)
			i++
			continue
		}
		name := ident(sql[i+3:])
		f, ok := macroFuncs[name]
		if !ok {
			return "", fmt.Errorf("unknown macro $__%s", name)
		}
		i += 3 + len(name)
		var args []string
		if i < len(sql) && sql[i] == '(' {
			end := matchParen(sql, i)
			if end < 0 {
				return "", fmt.Errorf("$__%s: unbalanced parentheses", name)
			}
			for _, a := range strings.Split(sql[i+1:end], ",") {
				args = append(args, strings.TrimSpace(a))
			}
			i = end + 1
		}
		s, err := f(r, args)
		if err != nil {
			return "", err
		}
		out.WriteString(s)
	}
	return out.String(), nil
}

// variableRegex is Grafana's VARIABLE_REGEX (public/app/features/variables
// and @grafana/scenes): $var, [[var]] or [[var:fmt]], ${var}, ${var.path}
// or ${var:fmt}. JavaScript's \w is ASCII, as RE2's.
var variableRegex = regexp.MustCompile(`\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}`)

// interpolate is Grafana's templateSrv.replace with the plugin's format
// function (CHDatasource.format) as the default format.
func interpolate(sql string, vars map[string][]string) (string, error) {
	if rest := variableRegex.ReplaceAllString(sql, ""); strings.Contains(rest, "${") || strings.Contains(rest, "[[") {
		return "", fmt.Errorf("a variable reference Grafana would not replace (unterminated ${ or [[, or a bad name)")
	}
	var err error
	out := variableRegex.ReplaceAllStringFunc(sql, func(match string) string {
		m := variableRegex.FindStringSubmatch(match)
		name := m[1] + m[2] + m[4]
		format := m[3] + m[6]
		vals, ok := vars[name]
		switch {
		case err != nil:
			return match
		case !ok && strings.HasPrefix(name, "__"):
			return match // a macro: Grafana leaves it to the plugin's backend
		case !ok:
			err = fmt.Errorf("unknown template variable $%s", name)
			return match
		case m[5] != "":
			err = fmt.Errorf("%s: field paths are not supported", match)
			return match
		}
		if len(vals) > 0 && vals[0] == AllValue {
			vals = vals[1:] // All: every option's value
		}
		s, ferr := formatValue(format, vals)
		if ferr != nil {
			err = fmt.Errorf("%s: %w", match, ferr)
			return match
		}
		return s
	})
	return out, err
}

// formatValue formats the values of a multi-value variable (an array in
// Grafana) as Grafana's format registry does (@grafana/scenes
// formatRegistry); format "" is the ClickHouse plugin's default
// (CHDatasource.format: every value in quotes, nothing escaped).
func formatValue(format string, vals []string) (string, error) {
	quoted := func(q string, esc func(string) string) string {
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = q + esc(v) + q
		}
		return strings.Join(out, ",")
	}
	switch format {
	case "":
		return "'" + strings.Join(vals, "','") + "'", nil
	case "singlequote":
		return quoted("'", func(v string) string { return strings.ReplaceAll(v, "'", `\'`) }), nil
	case "doublequote":
		return quoted(`"`, func(v string) string { return strings.ReplaceAll(v, `"`, `\"`) }), nil
	case "sqlstring":
		return quoted("'", strings.NewReplacer("'", "''", `"`, `\"`).Replace), nil
	case "csv", "raw":
		return strings.Join(vals, ","), nil
	case "pipe":
		return strings.Join(vals, "|"), nil
	case "glob":
		if len(vals) > 1 {
			return "{" + strings.Join(vals, ",") + "}", nil
		}
		return strings.Join(vals, ","), nil
	case "percentencode":
		return encodeURIComponentStrict("{" + strings.Join(vals, ",") + "}"), nil
	case "json":
		b, err := json.Marshal(vals)
		if vals == nil {
			b = []byte("[]")
		}
		return jsonUnescape.Replace(string(b)), err
	}
	return "", fmt.Errorf("format %q is not emulated", format)
}

// jsonUnescape undoes what Go's encoder escapes and JSON.stringify does not.
var jsonUnescape = strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&", `\u2028`, "\u2028", `\u2029`, "\u2029")

// encodeURIComponentStrict is Grafana's: encodeURIComponent (UTF-8
// percent-encoding of everything but A-Z a-z 0-9 - _ . ! ~ * ' ( )), then
// ! ' ( ) * encoded too, so the result is made of A-Z a-z 0-9 - _ . ~ and
// %XX only. Bytes that are not UTF-8 became U+FFFD in the browser long
// before (JSON decoding).
func encodeURIComponentStrict(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for _, c := range []byte(strings.ToValidUTF8(s, "\uFFFD")) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// conditionalAllVar is the plugin's regex for the variable of a
// $__conditionalAll: (?<=\$\{)[\w\d]+(?=\})|(?<=\$)[\w\d]+, without the
// lookarounds RE2 lacks (the same first match).
var conditionalAllVar = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// expandConditionalAll is the plugin's applyConditionalAll: from the last
// occurrence to the first, the arguments split at the commas one level
// inside the macro's parentheses (quotes are not looked at), and the
// macro's text replaced, at its first occurrence, as JavaScript's
// String.prototype.replace does ($$, $&, $` and $' in the replacement are
// patterns).
func expandConditionalAll(sql string, vars map[string][]string) (string, error) {
	for {
		i := strings.LastIndex(sql, conditionalAll)
		if i < 0 {
			return sql, nil
		}
		args := macroArgs(sql[i+len(conditionalAll)-1:])
		if len(args) != 2 {
			return "", fmt.Errorf("$__conditionalAll: expected 2 arguments (condition, $variable), got %d", len(args))
		}
		v := strings.TrimSpace(args[1])
		m := conditionalAllVar.FindStringSubmatch(v)
		if m == nil || m[0] != v {
			return "", fmt.Errorf("$__conditionalAll: second argument %q is not a plain $variable", v)
		}
		vals, ok := vars[m[1]+m[2]]
		if !ok {
			return "", fmt.Errorf("$__conditionalAll: unknown template variable %s", v)
		}
		// current.value.toString(): the selected values joined with commas;
		// with All selected, current.value is ["$__all"].
		current := strings.Join(vals, ",")
		if len(vals) > 0 && vals[0] == AllValue {
			current = AllValue
		}
		phrase := args[0]
		if current == "" || current == AllValue {
			phrase = "1=1"
		}
		sql = jsReplaceFirst(sql, conditionalAll+args[0]+","+args[1]+")", phrase)
	}
}

// macroArgs is the plugin's getMacroArgs on s, which starts with the
// macro's "(": the arguments split at commas at depth 1, up to the
// matching ")"; nil when it is never closed.
func macroArgs(s string) []string {
	var args []string
	depth, last := 0, 1
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 1 {
				args = append(args, s[last:j])
				last = j + 1
			}
			continue
		default:
			continue
		}
		if depth == 0 {
			return append(args, s[last:j])
		}
	}
	return nil
}

// jsReplaceFirst is s.replace(pattern, replacement) in JavaScript with a
// string pattern: the first occurrence, and the replacement's $$, $&, $`
// and $' patterns substituted.
func jsReplaceFirst(s, pattern, replacement string) string {
	i := strings.Index(s, pattern)
	if i < 0 {
		return s
	}
	var r strings.Builder
	for j := 0; j < len(replacement); j++ {
		c := replacement[j]
		if c == '$' && j+1 < len(replacement) {
			switch replacement[j+1] {
			case '$':
				r.WriteByte('$')
				j++
				continue
			case '&':
				r.WriteString(pattern)
				j++
				continue
			case '`':
				r.WriteString(s[:i])
				j++
				continue
			case '\'':
				r.WriteString(s[i+len(pattern):])
				j++
				continue
			}
		}
		r.WriteByte(c)
	}
	return s[:i] + r.String() + s[i+len(pattern):]
}

func ident(s string) string {
	n := 0
	for n < len(s) {
		c := s[n]
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			n++
			continue
		}
		break
	}
	return s[:n]
}

func matchParen(s string, open int) int {
	depth := 0
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}
