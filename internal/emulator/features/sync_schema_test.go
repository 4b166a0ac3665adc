package features

import (
	"errors"
	"testing"
)

func TestRemoveField(t *testing.T) {
	s := newTestFS(nil, 1)
	before, err := s.Features("Field_Survey", 0, "")
	if err != nil || len(before) == 0 {
		t.Fatalf("features: %v", err)
	}
	if _, ok := before[0].Attributes["Notes"]; !ok {
		t.Fatal("demo feature has no Notes")
	}
	if err := s.RemoveField("Field_Survey", 0, "notes"); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Features("Field_Survey", 0, "")
	for _, f := range after {
		if _, ok := f.Attributes["Notes"]; ok {
			t.Fatalf("Notes still on feature %v", f.Attributes["GlobalID"])
		}
	}
	if err := s.RemoveField("Field_Survey", 0, "Notes"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second removal: %v, want ErrNotFound", err)
	}
	if err := s.RemoveField("Nope", 0, "Notes"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown service: %v", err)
	}
}
