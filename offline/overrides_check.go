package offline

import "fmt"

// overrideCheck collects the problems of caller-edited overrides; each
// source checks its own part (source.check).
type overrideCheck struct {
	t      *Task
	errs   []error
	groups map[Key]*ServiceGroup
	byKey  map[Key][]*Entry
}

// unknown reports a key that names nothing of the right kind in the map.
func (oc *overrideCheck) unknown(k Key, what string) {
	oc.errs = append(oc.errs, &ValidationError{Code: ErrUnknownOverrideKey, Key: k, Message: fmt.Sprintf("overrides: %s key %s names no such layer in the web map", what, k)})
}

// invalid reports a value ArcGIS would reject.
func (oc *overrideCheck) invalid(k Key, format string, args ...any) {
	oc.errs = append(oc.errs, &ValidationError{Code: ErrOverride, Key: k, Message: fmt.Sprintf("overrides: %s: ", k) + fmt.Sprintf(format, args...)})
}

// hasType reports whether an entry with key k has one of the layer types.
func (oc *overrideCheck) hasType(k Key, types ...string) bool {
	for _, e := range oc.byKey[k] {
		for _, ty := range types {
			if e.LayerType == ty {
				return true
			}
		}
	}
	return false
}

// checkOverrides reports keys that name nothing of the right kind in the
// map, and values ArcGIS would reject.
func (t *Task) checkOverrides(o *Overrides) []error {
	oc := &overrideCheck{t: t, groups: map[Key]*ServiceGroup{}, byKey: map[Key][]*Entry{}}
	for _, g := range GroupFeatureEntries(t.entries) {
		oc.groups[g.Key] = g
	}
	for _, e := range t.entries {
		oc.byKey[e.Key] = append(oc.byKey[e.Key], e)
	}
	for _, s := range sources() {
		s.check(oc, o)
	}
	for _, k := range o.OnlineLayers {
		ok := false
		for _, e := range oc.byKey[k] {
			ok = ok || !e.IsTable()
		}
		if !ok {
			oc.unknown(k, "onlineLayers")
		}
	}
	for _, k := range sortedKeys(o.LeftOut) {
		if len(oc.byKey[k]) == 0 {
			oc.unknown(k, "leftOut")
		}
	}
	for _, k := range o.OnlineTables {
		ok := false
		for _, e := range oc.byKey[k] {
			ok = ok || e.IsTable()
		}
		if !ok {
			oc.unknown(k, "onlineTables")
		}
	}
	return oc.errs
}
