package reports

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Week is an ISO 8601 week (Monday to Sunday), e.g. 2026-W47.
type Week struct {
	Year, Week int
}

// ParseWeek parses "2026-W47" (also "2026W47").
func ParseWeek(s string) (Week, error) {
	y, w, ok := strings.Cut(strings.ToUpper(strings.TrimSpace(s)), "W")
	y = strings.TrimSuffix(y, "-")
	year, err1 := strconv.Atoi(y)
	week, err2 := strconv.Atoi(w)
	if !ok || err1 != nil || err2 != nil || len(y) != 4 || len(w) != 2 {
		return Week{}, fmt.Errorf("week %q: want an ISO week like 2026-W47", s)
	}
	wk := Week{year, week}
	if week < 1 || wk.Start(time.UTC).AddDate(0, 0, 3).Year() != year {
		return Week{}, fmt.Errorf("week %q: year %d has no week %d", s, year, week)
	}
	return wk, nil
}

// String is "2026-W47".
func (w Week) String() string { return fmt.Sprintf("%04d-W%02d", w.Year, w.Week) }

// Start is Monday 00:00 of the week in loc.
func (w Week) Start(loc *time.Location) time.Time {
	// January 4th is always in week 1.
	jan4 := time.Date(w.Year, time.January, 4, 0, 0, 0, 0, loc)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, 7*(w.Week-1))
}

// End is the next Monday 00:00 in loc (exclusive).
func (w Week) End(loc *time.Location) time.Time { return w.Start(loc).AddDate(0, 0, 7) }

// Prev is the week before.
func (w Week) Prev() Week { return WeekOf(w.Start(time.UTC).AddDate(0, 0, -7)) }

// WeekOf is the ISO week containing t (in t's location).
func WeekOf(t time.Time) Week {
	y, w := t.ISOWeek()
	return Week{y, w}
}

// LastFullWeek is the last ISO week that ended before now, in loc.
func LastFullWeek(now time.Time, loc *time.Location) Week {
	return WeekOf(now.In(loc)).Prev()
}

// Schedule is a weekly time: a weekday and a time of day.
type Schedule struct {
	Day          time.Weekday
	Hour, Minute int
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseSchedule parses "Mon 07:00" (weekday names may be full, any case).
func ParseSchedule(s string) (Schedule, error) {
	f := strings.Fields(s)
	if len(f) != 2 || len(f[0]) < 3 {
		return Schedule{}, fmt.Errorf("%q: want \"<weekday> HH:MM\", e.g. \"Mon 07:00\"", s)
	}
	day, ok := weekdays[strings.ToLower(f[0][:3])]
	if !ok {
		return Schedule{}, fmt.Errorf("%q: unknown weekday %q", s, f[0])
	}
	t, err := time.Parse("15:04", f[1])
	if err != nil {
		return Schedule{}, fmt.Errorf("%q: time of day %q is not HH:MM", s, f[1])
	}
	return Schedule{Day: day, Hour: t.Hour(), Minute: t.Minute()}, nil
}

// Next is the first scheduled time strictly after now, in loc.
func (s Schedule) Next(now time.Time, loc *time.Location) time.Time {
	n := now.In(loc)
	for i := 0; i <= 7; i++ {
		d := n.AddDate(0, 0, i)
		t := time.Date(d.Year(), d.Month(), d.Day(), s.Hour, s.Minute, 0, 0, loc)
		if t.Weekday() == s.Day && t.After(now) {
			return t
		}
	}
	return n.AddDate(0, 0, 7) // unreachable
}

// String is "Mon 07:00".
func (s Schedule) String() string {
	return fmt.Sprintf("%s %02d:%02d", s.Day.String()[:3], s.Hour, s.Minute)
}
