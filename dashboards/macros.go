package dashboards

import (
	"fmt"
	"math"
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

// Expand does what Grafana and the ClickHouse plugin do to a panel's SQL
// before it reaches ClickHouse: $__conditionalAll(condition, $var) becomes
// 1=1 when var has All (or nothing) selected and condition otherwise; then
// template variables ($name, ${name}, ${name:singlequote}, ${name:csv}) are
// replaced by their values (vars; All stands for every option), then the
// plugin's macros ($__timeFilter(col), $__fromTime, ... see MacroNames) by
// their expansion for r. An unknown macro or variable is an error, so
// nothing unexpanded reaches the server.
func Expand(sql string, r TimeRange, vars map[string][]string) (string, error) {
	sql, err := expandConditionalAll(sql, vars)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for i := 0; i < len(sql); {
		c := sql[i]
		if c != '$' {
			out.WriteByte(c)
			i++
			continue
		}
		rest := sql[i+1:]
		switch {
		case strings.HasPrefix(rest, "__"):
			name := ident(rest[2:])
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
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ at offset %d", i)
			}
			name, format, _ := strings.Cut(rest[1:end], ":")
			s, err := formatVar(name, format, vars)
			if err != nil {
				return "", err
			}
			out.WriteString(s)
			i += 2 + end
		default:
			name := ident(rest)
			if name == "" {
				out.WriteByte(c)
				i++
				continue
			}
			s, err := formatVar(name, "", vars)
			if err != nil {
				return "", err
			}
			out.WriteString(s)
			i += 1 + len(name)
		}
	}
	return out.String(), nil
}

// expandConditionalAll applies $__conditionalAll from the last occurrence
// to the first, as the plugin does (so conditions may nest).
func expandConditionalAll(sql string, vars map[string][]string) (string, error) {
	for {
		i := strings.LastIndex(sql, conditionalAll)
		if i < 0 {
			return sql, nil
		}
		open := i + len(conditionalAll) - 1
		end := matchParen(sql, open)
		if end < 0 {
			return "", fmt.Errorf("$__conditionalAll: unbalanced parentheses")
		}
		args := splitArgs(sql[open+1 : end])
		if len(args) != 2 {
			return "", fmt.Errorf("$__conditionalAll: expected 2 arguments (condition, $variable), got %d", len(args))
		}
		v := strings.TrimSpace(args[1])
		name := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(v, "$"), "{"), "}")
		if !strings.HasPrefix(v, "$") || ident(name) != name || name == "" {
			return "", fmt.Errorf("$__conditionalAll: second argument %q is not a plain $variable", v)
		}
		vals, ok := vars[name]
		if !ok {
			return "", fmt.Errorf("$__conditionalAll: unknown template variable $%s", name)
		}
		phrase := strings.TrimSpace(args[0])
		if len(vals) == 0 || vals[0] == AllValue {
			phrase = "1=1"
		}
		sql = sql[:i] + phrase + sql[end+1:]
	}
}

// splitArgs splits macro arguments at the commas outside parentheses and
// quotes.
func splitArgs(s string) []string {
	var args []string
	depth, start := 0, 0
	quoted := false
	for j := 0; j < len(s); j++ {
		switch c := s[j]; {
		case c == '\\' && quoted:
			j++
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			args = append(args, s[start:j])
			start = j + 1
		}
	}
	return append(args, s[start:])
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

// formatVar renders a multi-value variable as Grafana does for SQL data sources.
func formatVar(name, format string, vars map[string][]string) (string, error) {
	vals, ok := vars[name]
	if !ok {
		return "", fmt.Errorf("unknown template variable $%s", name)
	}
	if len(vals) > 0 && vals[0] == AllValue {
		vals = vals[1:] // All: every option
	}
	switch format {
	case "singlequote", "":
		// The SQL data sources quote every value by default for multi-value variables.
		q := make([]string, len(vals))
		for i, v := range vals {
			q[i] = "'" + strings.ReplaceAll(v, "'", "\\'") + "'"
		}
		if len(q) == 0 {
			return "''", nil
		}
		return strings.Join(q, ","), nil
	case "csv", "raw":
		return strings.Join(vals, ","), nil
	default:
		return "", fmt.Errorf("${%s:%s}: unsupported format", name, format)
	}
}
