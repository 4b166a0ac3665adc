package geodb

import (
	"strings"
	"time"
)

// driverTimeFormats are modernc.org/sqlite's parseTimeFormats (v1.62.0,
// sqlite.go): the layouts it tries, in this order, on the text of a column
// declared DATE, DATETIME or TIMESTAMP.
var driverTimeFormats = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// driverTime parses the text of a date-declared column as the database/sql
// driver does (modernc.org/sqlite's conn.parseTime, no _loc): ok is false
// when the driver gives the text itself. The texts geodb writes
// (2006-01-02T15:04:05.000Z, 2006-01-02) are read without allocating; anything else
// goes through the driver's own steps (FuzzDriverTime compares the two
// through the driver).
func driverTime(b []byte) (time.Time, bool) {
	if tm, ok, sure := isoUTC(b); sure {
		return tm, ok
	}
	s := string(b)
	// conn.parseTimeString: time.Time.String's form, "m=" cut off.
	ts := s
	if x := strings.Index(s, "m="); x > 0 {
		ts = s[:x]
	}
	if tm, err := time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", strings.TrimSpace(ts)); err == nil {
		return tm, true
	}
	ts, _ = strings.CutSuffix(s, "Z")
	for _, f := range driverTimeFormats {
		if tm, err := time.Parse(f, ts); err == nil {
			return tm, true
		}
	}
	return time.Time{}, false
}

// isoUTC reads b when it is YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS optionally
// with a fraction of 1 to 9 digits, either with an optional final Z: the
// driver's String form cannot match such text, nor can its layouts with a
// space, an offset or other fields than these; its layout 6
// (2006-01-02), resp. 3 (2006-01-02T15:04:05.999999999), parses it as UTC
// when every field is in range, and else no layout matches. sure is false
// for any other text.
func isoUTC(b []byte) (tm time.Time, ok, sure bool) {
	if n := len(b); n > 0 && b[n-1] == 'Z' {
		b = b[:n-1]
	}
	if len(b) != 10 && (len(b) < 19 || b[10] != 'T' || b[13] != ':' || b[16] != ':') || b[4] != '-' || b[7] != '-' {
		return
	}
	num := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	if !(ok1 && ok2 && ok3) {
		return
	}
	hour, minute, sec, nsec := 0, 0, 0, 0
	if len(b) > 10 {
		var ok4, ok5, ok6 bool
		hour, ok4 = num(b[11:13])
		minute, ok5 = num(b[14:16])
		sec, ok6 = num(b[17:19])
		if !(ok4 && ok5 && ok6) {
			return
		}
		if frac := b[19:]; len(frac) > 0 {
			if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
				return
			}
			f, okf := num(frac[1:])
			if !okf {
				return
			}
			for range 10 - len(frac) {
				f *= 10
			}
			nsec = f
		}
	}
	sure = true
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true, true
}

// daysIn is the number of days of month in year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
