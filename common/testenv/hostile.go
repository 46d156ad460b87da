package testenv

import "strings"

// Hostile is one name of the hostile-name corpus.
type Hostile struct {
	// Label names the case in test output and subtest names: ASCII
	// letters, digits and dashes, unique in the corpus.
	Label string
	// Value is the name itself.
	Value string
}

// HostileNames is the corpus of hostile names every stage's tests feed
// where a site, device, interface or peer name enters (issue 18): quotes
// and backslashes (leading, trailing, doubled), NUL, CR/LF and other
// controls, Unicode layout characters (U+202E, U+2028, zero-width), SQL
// fragments (the UNION ALL over system.tables that once listed every table
// through a dashboard, DROP TABLE, comments), Grafana and Go template
// syntax ($__all, ${x}, [[x]], {{.Site}}), commas and glob braces, percent
// escapes, markup, an empty name, a 10 kB name and invalid UTF-8.
//
// A fresh slice each call: callers may keep or change it. Some values are
// valid names for the ingestion policy (common/names accepts the printable
// ones: quotes, SQL, template syntax), others are refused there; a test
// that needs one kind filters with names.Check. Values that are not valid
// UTF-8 cannot travel in a protobuf string field; proto.Marshal refuses
// them.
func HostileNames() []Hostile {
	return []Hostile{
		// Quotes and backslashes: ClickHouse string literals take both as
		// escapes; Grafana's singlequote escapes only the quote.
		{"quote", "it's"},
		{"quote-only", "'"},
		{"quotes-doubled", "''"},
		{"double-quote", `say "hi"`},
		{"backtick", "`name`"},
		{"backslash-trailing", `bs\`},
		{"backslash-leading", `\bs`},
		{"backslash-doubled", `a\\b`},
		{"backslash-only", `\`},
		{"backslash-device", `bs\-sw\`},
		{"backslash-quote", `\'`},
		{"quote-backslash", `'\`},
		// SQL: the value that made "Events per rule" list system.tables,
		// and the classics.
		{"sql-union-system-tables", `\') GROUP BY rule UNION ALL SELECT name, 1, 1, 1, 1 FROM system.tables --`},
		{"sql-union-plain", `x') UNION ALL SELECT name FROM system.tables --`},
		{"sql-drop-table", `'; DROP TABLE interface_kpis; --`},
		{"sql-line-comment", "-- comment"},
		{"sql-block-comment", "/* open"},
		{"sql-block-close", "*/"},
		{"sql-or-true", `' OR 1=1 OR '`},
		// Controls and Unicode layout characters.
		{"nul", "a\x00b"},
		{"nul-only", "\x00"},
		{"crlf", "a\r\nb"},
		{"lf", "line1\nline2"},
		{"cr", "a\rb"},
		{"tab", "a\tb"},
		{"escape-sequence", "a\x1b[31mred"},
		{"del", "a\x7fb"},
		{"c1-nel", "a\u0085b"},
		{"bidi-override", "abc\u202Etxt.exe"},
		{"line-separator", "a\u2028b"},
		{"paragraph-separator", "a\u2029b"},
		{"zero-width-space", "a\u200Bb"},
		{"zero-width-joiner", "a\u200Db"},
		{"byte-order-mark", "\uFEFFbom"},
		{"nbsp", "a\u00A0b"},
		// Grafana variable and macro syntax, Go templates.
		{"grafana-all", "$__all"},
		{"grafana-var", "${site}"},
		{"grafana-var-format", "${site:raw}"},
		{"grafana-brackets", "[[site]]"},
		{"grafana-dollar", "$site"},
		{"grafana-macro", "$__timeFilter(ts)"},
		{"grafana-conditional-all", "$__conditionalAll(1=1, $site)"},
		{"go-template", "{{.Site}}"},
		// Separators, globs and escapes of other formats.
		{"comma", "a,b"},
		{"glob", "{a,b}"},
		{"percent-quote", "%27"},
		{"percent-bad", "%ZZ%"},
		{"slash", "a/b"},
		{"key-separator", "a>b"},
		{"markup", "<b>&amp;</b>"},
		{"formula", "=HYPERLINK(\"x\")"},
		{"spaces", " padded "},
		{"empty", ""},
		// Sizes and encodings.
		{"long-10kb", long10kB()},
		{"invalid-utf8", "a\xffb"},
		{"truncated-utf8", "caf\xc3"},
		{"surrogate-utf8", "\xed\xa0\x80"},
		{"overlong-utf8", "\xc0\xaf"},
		{"four-byte", "rocket-\U0001F680"},
	}
}

// long10kB is 10,240 bytes of quotes, backslashes and letters.
func long10kB() string {
	return strings.Repeat(`a'\b`, 2560)
}
