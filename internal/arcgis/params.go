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
