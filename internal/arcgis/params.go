package arcgis

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// setJSON sets key to the JSON encoding of v unless v is nil.
func setJSON(q url.Values, key string, v any) error {
	if v == nil {
		return nil
	}
	switch x := v.(type) {
	case json.RawMessage:
		if len(x) == 0 {
			return nil
		}
		q.Set(key, string(x))
		return nil
	case string:
		if x != "" {
			q.Set(key, x)
		}
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	q.Set(key, string(b))
	return nil
}

// setBool sets key to true/false when b is not nil.
func setBool(q url.Values, key string, b *bool) {
	if b != nil {
		q.Set(key, strconv.FormatBool(*b))
	}
}

// setTrue sets key=true when b.
func setTrue(q url.Values, key string, b bool) {
	if b {
		q.Set(key, "true")
	}
}

// setList sets key to the JSON encoding of v unless v is empty.
func setList[T any](q url.Values, key string, v []T) error {
	if len(v) == 0 {
		return nil
	}
	return setJSON(q, key, v)
}

// setPositive sets key to n when n > 0.
func setPositive(q url.Values, key string, n int) {
	if n > 0 {
		q.Set(key, strconv.Itoa(n))
	}
}

// setIntPtr sets key to *n when n is not nil.
func setIntPtr[T int | int64](q url.Values, key string, n *T) {
	if n != nil {
		q.Set(key, strconv.FormatInt(int64(*n), 10))
	}
}

// setGeometry sets geometry to g's JSON and geometryType to gt, or to g's
// own type when gt is empty.
func setGeometry(q url.Values, g *Geometry, gt string) error {
	if err := setJSON(q, "geometry", g); err != nil {
		return err
	}
	if gt == "" {
		gt = g.Type()
	}
	q.Set("geometryType", gt)
	return nil
}

// withExtra copies extra into q, replacing computed parameters of the same
// name, and returns q.
func withExtra(q, extra url.Values) url.Values {
	for k, v := range extra {
		q[k] = v
	}
	return q
}

// joinInts renders ids as "1,2,3".
func joinInts[T int | int64](ids []T) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(int64(id), 10)
	}
	return strings.Join(parts, ",")
}

// Bool returns a pointer to b, for optional boolean parameters.
func Bool(b bool) *bool { return &b }

// Int returns a pointer to n, for optional integer parameters.
func Int(n int) *int { return &n }
