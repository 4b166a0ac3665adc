package geodb

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

var update = flag.Bool("update", false, "rewrite golden files")

func replicaLayers(t *testing.T) map[int][]arcgis.Feature {
	t.Helper()
	b, err := os.ReadFile("testdata/replica.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Layers []arcgis.ReplicaLayerData `json:"layers"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	out := map[int][]arcgis.Feature{}
	for _, l := range rep.Layers {
		out[l.ID] = l.Features
	}
	return out
}

// TestRoundTrip: ArcGIS JSON → GeoPackage → ArcGIS JSON is lossless, and
// the output matches the golden files.
func TestRoundTrip(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	in := replicaLayers(t)
	for id := 0; id <= 5; id++ {
		got, err := db.Features(ctx, Query{LayerID: id})
		if err != nil {
			t.Fatal(err)
		}
		want := in[id]
		if len(got) != len(want) {
			t.Fatalf("layer %d: %d features, want %d", id, len(got), len(want))
		}
		for i := range want {
			g, w := canon(t, got[i]), canon(t, want[i])
			if !reflect.DeepEqual(g, w) {
				gb, _ := json.Marshal(g)
				wb, _ := json.Marshal(w)
				t.Errorf("layer %d feature %d differs:\n got %s\nwant %s", id, i, gb, wb)
			}
		}
		var buf bytes.Buffer
		if err := db.WriteArcGISJSON(ctx, &buf, Query{LayerID: id}); err != nil {
			t.Fatal(err)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, buf.Bytes(), "", " "); err != nil {
			t.Fatalf("layer %d: invalid JSON output: %v\n%s", id, err, buf.String())
		}
		golden := fmt.Sprintf("testdata/golden/layer%d.arcgis.json", id)
		if *update {
			if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		wantb, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestRoundTrip -update once)", err)
		}
		if !bytes.Equal(pretty.Bytes(), wantb) {
			t.Errorf("layer %d: output differs from %s:\n%s", id, golden, pretty.String())
		}
	}
	validate(t, db)
}

// TestFixtureLayer builds a table from the real ArcGIS layer fixture.
func TestFixtureLayer(t *testing.T) {
	ctx := testCtx(t)
	// testdata copy of shared/arcgis-fixtures/featureserver-layer.arcgis-rest-js.json
	raw, err := os.ReadFile("testdata/featureserver-layer.json")
	if err != nil {
		t.Fatal(err)
	}
	var l arcgis.Layer
	if err := json.Unmarshal(raw, &l); err != nil {
		t.Fatal(err)
	}
	db := openTemp(t, "fixture.gpkg")
	tb, err := db.CreateLayer(ctx, &l, raw)
	if err != nil {
		t.Fatal(err)
	}
	if tb.SRSID != 3857 || tb.GeomType != GeomPoint || tb.OIDCol != "objectid" || tb.GIDCol != "globalid" {
		t.Fatalf("table = %+v", tb)
	}
	f := arcgis.Feature{Attributes: map[string]any{"requestid": "R-1", "requesttype": json.Number("1"), "status": "Assigned",
		"requestdate": json.Number("1700000000000"), "floor": "3"}, Geometry: &arcgis.Geometry{X: ptr(-13046000.0), Y: ptr(4036000.0)}}
	res, err := db.Add(ctx, 0, f)
	if err != nil {
		t.Fatal(err)
	}
	// the domain is enforced: status must be a code
	f.Attributes["status"] = "Lost"
	if _, err := db.Add(ctx, 0, f); !isFieldErr(err, "status", ErrDomain) {
		t.Fatalf("bad status: err = %v", err)
	}
	back, err := db.Feature(ctx, 0, res.GlobalID)
	if err != nil || back == nil {
		t.Fatal(err)
	}
	if back.Attributes["requestdate"] != int64(1700000000000) || back.Attributes["requesttype"] != "1" || *back.Geometry.X != -13046000.0 {
		t.Fatalf("read back %+v", back.Attributes)
	}
	stored, err := db.LayerJSON(ctx, 0)
	if err != nil || !bytes.Equal(stored, raw) {
		t.Fatalf("layer JSON not kept verbatim (err %v)", err)
	}
	if svc, err := os.ReadFile("testdata/featureserver-service.json"); err == nil {
		if err := db.SaveService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		back, err := db.Service(ctx)
		if err != nil || !bytes.Equal(back, svc) {
			t.Fatalf("service JSON not kept verbatim (err %v)", err)
		}
	}
	validate(t, db)
}

func ptr(f float64) *float64 { return &f }

// TestOgrinfoReadsSameValues compares GDAL's reading of the file with ours.
func TestOgrinfoReadsSameValues(t *testing.T) {
	ogr := needTool(t, "ogr2ogr")
	db := loadedDB(t)
	ctx := testCtx(t)
	if err := db.Checkpoint(ctx, false); err != nil {
		t.Fatal(err)
	}
	for id := 0; id <= 5; id++ {
		tb := db.TableByID(id)
		out, err := exec.Command(ogr, "-f", "GeoJSON", "/vsistdout/", db.Path(), tb.Name).Output()
		if err != nil {
			t.Fatalf("ogr2ogr %s: %v", tb.Name, err)
		}
		var fc struct {
			Features []struct {
				Properties map[string]any `json:"properties"`
				Geometry   *struct {
					Type        string          `json:"type"`
					Coordinates json.RawMessage `json:"coordinates"`
				} `json:"geometry"`
			} `json:"features"`
		}
		if err := json.Unmarshal(out, &fc); err != nil {
			t.Fatalf("%s: %v\n%s", tb.Name, err, out)
		}
		ours, err := db.Features(ctx, Query{LayerID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(fc.Features) != len(ours) {
			t.Fatalf("%s: GDAL reads %d features, we wrote %d", tb.Name, len(fc.Features), len(ours))
		}
		for i, gf := range fc.Features {
			for _, c := range tb.Cols {
				if c.kind == kOID {
					continue // GDAL exposes the primary key as the FID, not a property
				}
				ov, gv := ours[i].Attributes[c.Name], gf.Properties[c.Name]
				if !sameValue(c, ov, gv) {
					t.Errorf("%s feature %d field %s: GDAL %v (%T), ours %v (%T)", tb.Name, i, c.Name, gv, gv, ov, ov)
				}
			}
			if (gf.Geometry == nil) != (ours[i].Geometry == nil) {
				t.Errorf("%s feature %d: geometry presence differs", tb.Name, i)
				continue
			}
			if gf.Geometry != nil {
				gotXY := firstXY(gf.Geometry.Coordinates)
				var eg = ours[i].Geometry
				var want [2]float64
				switch {
				case eg.X != nil:
					want = [2]float64{*eg.X, *eg.Y}
				case eg.Points != nil:
					want = [2]float64{eg.Points[0][0], eg.Points[0][1]}
				case eg.Paths != nil:
					want = [2]float64{eg.Paths[0][0][0], eg.Paths[0][0][1]}
				default:
					want = [2]float64{eg.Rings[0][0][0], eg.Rings[0][0][1]}
				}
				if gotXY != want {
					t.Errorf("%s feature %d: GDAL first vertex %v, ours %v", tb.Name, i, gotXY, want)
				}
			}
		}
	}
}

func firstXY(raw json.RawMessage) [2]float64 {
	var v any
	json.Unmarshal(raw, &v)
	for {
		a, ok := v.([]any)
		if !ok || len(a) == 0 {
			return [2]float64{}
		}
		if x, ok := a[0].(float64); ok {
			return [2]float64{x, a[1].(float64)}
		}
		v = a[0]
	}
}

func sameValue(c Column, ours, gdal any) bool {
	if ours == nil || gdal == nil {
		return ours == nil && gdal == nil
	}
	switch c.kind {
	case kDate:
		s, _ := gdal.(string)
		tm, err := time.Parse("2006/01/02 15:04:05.000", s)
		if err != nil {
			tm, err = parseDateText(s)
		}
		return err == nil && tm.UnixMilli() == ours.(int64)
	case kDateOnly:
		return strings.ReplaceAll(fmt.Sprint(gdal), "/", "-") == ours
	case kInt16, kInt32, kInt64, kOID:
		f, ok := gdal.(float64)
		return ok && (int64(f) == ours.(int64) || math.Abs(f-float64(ours.(int64))) < 2)
	case kFloat32, kFloat64:
		f, ok := gdal.(float64)
		return ok && f == ours.(float64)
	case kBlob:
		return true // GDAL renders BLOBs as hex/base64 variants
	}
	return fmt.Sprint(gdal) == fmt.Sprint(ours)
}
