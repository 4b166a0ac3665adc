package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/offlined/offlined/offline"
)

// printEstimate writes the estimate as a table (or JSON) and, with a
// directory, the free space of its volume.
func printEstimate(w io.Writer, est *offline.PackageEstimate, err error, asJSON bool, dir string) error {
	if err != nil {
		return fmt.Errorf("estimate: %w", err)
	}
	var free int64 = -1
	if dir != "" {
		if n, err := offline.FreeSpace(dir); err == nil {
			free = n
		}
	}
	if asJSON {
		out := struct {
			*offline.PackageEstimate
			FreeBytes *int64 `json:"freeBytes,omitempty"`
		}{PackageEstimate: est}
		if free >= 0 {
			out.FreeBytes = &free
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", " ")
		return enc.Encode(out)
	}
	if err := offline.WriteEstimateTable(w, est, ""); err != nil {
		return err
	}
	if free >= 0 {
		fmt.Fprintf(w, "free space on the volume of %s: %s\n", dir, offline.HumanBytes(free))
	}
	return nil
}

// parseSize reads a byte size: "2GB", "500 MB", "1.5GiB", "123456" (SI
// units are powers of 1000, IEC ones of 1024).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v <= 0 || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a positive size such as 2GB or 500MB", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}[strings.ToLower(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, unit)
	}
	n := v * mult
	if n > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if n < 1 {
		return 0, fmt.Errorf("%q is less than a byte", s)
	}
	return int64(n), nil
}
