package offline

// JSON of web map types that keeps unknown members (a web map written back
// loses nothing offlined does not model).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// unmarshalKeep decodes b into dst (a pointer to a struct whose Extra field
// is extra) and stores every member whose name is not a json tag of known
// into *extra.
func unmarshalKeep(b []byte, dst any, extra *Extra, known reflect.Type) error {
	if err := json.Unmarshal(b, dst); err != nil {
		return err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	names := jsonNames(known)
	for k, v := range all {
		if names[k] {
			continue
		}
		if *extra == nil {
			*extra = Extra{}
		}
		(*extra)[k] = v
	}
	return nil
}

// marshalKeep encodes v (a struct) and merges extra members into the object.
// Known members win over extra ones of the same name.
func marshalKeep(v any, extra Extra) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(extra) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, raw := range extra {
		if _, ok := m[k]; !ok {
			m[k] = raw
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(m[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// jsonNames lists the json member names of a struct type.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

// The types below keep their unknown members through a plain alias type.

// UnmarshalJSON keeps unknown members in Extra.
func (wm *WebMap) UnmarshalJSON(b []byte) error {
	type plain WebMap
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*wm = WebMap(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (wm WebMap) MarshalJSON() ([]byte, error) {
	type plain WebMap
	if wm.OperationalLayers == nil {
		wm.OperationalLayers = []*Layer{}
	}
	return marshalKeep(plain(wm), wm.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (bm *BaseMap) UnmarshalJSON(b []byte) error {
	type plain BaseMap
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*bm = BaseMap(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (bm BaseMap) MarshalJSON() ([]byte, error) {
	type plain BaseMap
	if bm.BaseMapLayers == nil {
		bm.BaseMapLayers = []*Layer{}
	}
	return marshalKeep(plain(bm), bm.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (l *Layer) UnmarshalJSON(b []byte) error {
	type plain Layer
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*l = Layer(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (l Layer) MarshalJSON() ([]byte, error) {
	type plain Layer
	return marshalKeep(plain(l), l.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (d *LayerDefinition) UnmarshalJSON(b []byte) error {
	type plain LayerDefinition
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*d = LayerDefinition(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (d LayerDefinition) MarshalJSON() ([]byte, error) {
	type plain LayerDefinition
	return marshalKeep(plain(d), d.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (s *InitialState) UnmarshalJSON(b []byte) error {
	type plain InitialState
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*s = InitialState(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (s InitialState) MarshalJSON() ([]byte, error) {
	type plain InitialState
	return marshalKeep(plain(s), s.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (v *Viewpoint) UnmarshalJSON(b []byte) error {
	type plain Viewpoint
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*v = Viewpoint(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (v Viewpoint) MarshalJSON() ([]byte, error) {
	type plain Viewpoint
	return marshalKeep(plain(v), v.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (o *MapOptions) UnmarshalJSON(b []byte) error {
	type plain MapOptions
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*o = MapOptions(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (o MapOptions) MarshalJSON() ([]byte, error) {
	type plain MapOptions
	return marshalKeep(plain(o), o.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (a *ApplicationProperties) UnmarshalJSON(b []byte) error {
	type plain ApplicationProperties
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*a = ApplicationProperties(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (a ApplicationProperties) MarshalJSON() ([]byte, error) {
	type plain ApplicationProperties
	return marshalKeep(plain(a), a.Extra)
}

// UnmarshalJSON keeps unknown members in Extra; syncDataOptions may be a
// number or a numeric string.
func (o *OfflineSettings) UnmarshalJSON(b []byte) error {
	type plain OfflineSettings
	var p struct {
		plain
		SyncDataOptions json.RawMessage `json:"syncDataOptions,omitempty"`
	}
	if err := unmarshalKeep(b, &p, &p.plain.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*o = OfflineSettings(p.plain)
	if s := strings.Trim(strings.TrimSpace(string(p.SyncDataOptions)), `"`); s != "" && s != "null" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("offline.syncDataOptions: %w", err)
		}
		o.SyncDataOptions = &n
	}
	return nil
}

// MarshalJSON writes known and unknown members.
func (o OfflineSettings) MarshalJSON() ([]byte, error) {
	type plain OfflineSettings
	return marshalKeep(plain(o), o.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (e *EditableLayersSettings) UnmarshalJSON(b []byte) error {
	type plain EditableLayersSettings
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*e = EditableLayersSettings(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (e EditableLayersSettings) MarshalJSON() ([]byte, error) {
	type plain EditableLayersSettings
	return marshalKeep(plain(e), e.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (r *ReadonlyLayersSettings) UnmarshalJSON(b []byte) error {
	type plain ReadonlyLayersSettings
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*r = ReadonlyLayersSettings(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (r ReadonlyLayersSettings) MarshalJSON() ([]byte, error) {
	type plain ReadonlyLayersSettings
	return marshalKeep(plain(r), r.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (s *OfflineBasemapSettings) UnmarshalJSON(b []byte) error {
	type plain OfflineBasemapSettings
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*s = OfflineBasemapSettings(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (s OfflineBasemapSettings) MarshalJSON() ([]byte, error) {
	type plain OfflineBasemapSettings
	return marshalKeep(plain(s), s.Extra)
}

// UnmarshalJSON keeps unknown members in Extra.
func (s *OfflineTablesSettings) UnmarshalJSON(b []byte) error {
	type plain OfflineTablesSettings
	var p plain
	if err := unmarshalKeep(b, &p, &p.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*s = OfflineTablesSettings(p)
	return nil
}

// MarshalJSON writes known and unknown members.
func (s OfflineTablesSettings) MarshalJSON() ([]byte, error) {
	type plain OfflineTablesSettings
	return marshalKeep(plain(s), s.Extra)
}
