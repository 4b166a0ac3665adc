package testutil

import (
	"encoding/json"
	"testing"
)

// Decode unmarshals the JSON document s into a new T, failing t when it
// does not decode.
func Decode[T any](t testing.TB, s string) *T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return &v
}
