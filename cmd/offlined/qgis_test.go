package main

import (
	"context"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/offline"
)

// needPyQGIS skips the test unless Debian's python3-qgis is installed.
func needPyQGIS(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("PyQGIS end-to-end")
	}
	cmd := exec.Command("/usr/bin/python3", "-c", "import qgis.core, osgeo.gdal")
	cmd.Env = append(os.Environ(), "QT_QPA_PLATFORM=offscreen")
	if err := cmd.Run(); err != nil {
		t.Skip("PyQGIS not installed (apt-get install python3-qgis qgis-providers)")
	}
}

// qgisReport is what testdata/qgis/check_package.py prints.
type qgisReport struct {
	GDALMessages []string            `json:"gdal_messages"`
	Sublayers    map[string][]string `json:"sublayers"`
	ProjectFiles []string            `json:"project_files"`
	Project      struct {
		Read   bool `json:"read"`
		Layers map[string]struct {
			Name     string            `json:"name"`
			Valid    bool              `json:"valid"`
			Features int               `json:"features"`
			Renderer string            `json:"renderer"`
			Aliases  map[string]string `json:"aliases"`
			Widgets  map[string]string `json:"widgets"`
		} `json:"layers"`
		CRS       string    `json:"crs"`
		Order     []string  `json:"order"`
		Relations []string  `json:"relations"`
		Extent    []float64 `json:"extent"`
	} `json:"project"`
	PNG struct {
		Path   string `json:"path"`
		Colors int    `json:"colors"`
	} `json:"png"`
	FeatureServer *struct {
		Valid    bool     `json:"valid"`
		Count    int      `json:"count"`
		Fields   []string `json:"fields"`
		Features []struct {
			Attrs map[string]*string `json:"attrs"`
			WKT   string             `json:"wkt"`
		} `json:"features"`
		CanAdd bool `json:"can_add"`
	} `json:"featureserver"`
}

// The demo package, opened by QGIS 3.22 (PyQGIS, offscreen): its
// GeoPackages list only user layers with no GDAL warning, its project opens
// with every layer valid and renders, and the daemon's FeatureServer reads
// through QGIS's ArcGIS Feature Server provider with the token in an "Esri
// token" authentication configuration: the same features as the store.
func TestQGISOpensDemoPackage(t *testing.T) {
	needPyQGIS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pkg")
	w := &lineWriter{want: "Serving the package on", hit: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--dir", dir, "--no-progress", "--no-sync", "--serve", "--addr", "127.0.0.1:0"}, w, io.Discard)
	}()
	var line string
	select {
	case line = <-w.hit:
	case err := <-done:
		t.Fatalf("demo ended before serving: %v", err)
	}
	defer func() {
		cancel()
		<-done
	}()
	var base, token string
	fields := strings.Fields(line)
	for i, f := range fields {
		if strings.HasPrefix(f, "http://") {
			base = f[:strings.Index(f[len("http://"):], "/")+len("http://")]
		}
		if f == "Bearer" && i+1 < len(fields) {
			token = strings.TrimSuffix(fields[i+1], ");")
		}
	}
	// The services directory names the FeatureServer.
	req, _ := http.NewRequest("GET", base+"/arcgis/rest/services?f=json", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var directory struct {
		Services []struct{ Name, Type string }
	}
	json.NewDecoder(resp.Body).Decode(&directory)
	resp.Body.Close()
	var name string
	for _, s := range directory.Services {
		if s.Type != "FeatureServer" {
			t.Errorf("services directory entry %+v", s)
		}
		if strings.HasSuffix(s.Name, ".Field_Survey") {
			name = s.Name
		}
	}
	if name == "" {
		t.Fatalf("services directory %+v lacks the Field_Survey FeatureServer", directory)
	}
	layerURL := base + "/arcgis/rest/services/" + name + "/FeatureServer/0"

	out := filepath.Join(t.TempDir(), "project.png")
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/qgis/check_package.py", dir, out, layerURL, token)
	cmd.Env = append(os.Environ(), "QT_QPA_PLATFORM=offscreen", "HOME="+t.TempDir(), "XDG_RUNTIME_DIR="+t.TempDir())
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("check_package.py: %v\n%s", err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	var rep qgisReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}

	// 1. Only user layers, no GDAL warning.
	if len(rep.GDALMessages) > 0 {
		t.Errorf("GDAL warned: %q", rep.GDALMessages)
	}
	if len(rep.Sublayers) != 2 {
		t.Errorf("sub-layers %v, want the two GeoPackages", rep.Sublayers)
	}
	for g, names := range rep.Sublayers {
		for _, n := range names {
			if strings.Contains(strings.ToLower(n), "offlined") {
				t.Errorf("%s lists bookkeeping table %s", g, n)
			}
		}
	}
	if !slices.Contains(rep.Sublayers["Field_Survey.gpkg"], "Inspections") {
		t.Errorf("Field_Survey.gpkg sub-layers %v lack Inspections", rep.Sublayers["Field_Survey.gpkg"])
	}

	// 2. The project: every layer valid, the web map's CRS, relations.
	if len(rep.ProjectFiles) != 1 || !rep.Project.Read || len(rep.Project.Layers) < 7 {
		t.Fatalf("project %v read=%v layers=%d", rep.ProjectFiles, rep.Project.Read, len(rep.Project.Layers))
	}
	for id, l := range rep.Project.Layers {
		if !l.Valid {
			t.Errorf("layer %s (%s) is not valid", id, l.Name)
		}
	}
	if rep.Project.CRS != "EPSG:3857" || !slices.Contains(rep.Project.Relations, "Inspections attachments") || len(rep.Project.Extent) != 4 || rep.Project.Extent[0] >= rep.Project.Extent[2] {
		t.Errorf("project crs %s relations %v extent %v", rep.Project.CRS, rep.Project.Relations, rep.Project.Extent)
	}
	var inspections int
	for _, l := range rep.Project.Layers {
		if l.Name == "Inspections" {
			inspections = l.Features
		}
		if l.Name == "Active pipes" && (l.Widgets["Status"] != "ValueMap" || l.Aliases["Diameter"] == "") {
			t.Errorf("Active pipes: widgets %v aliases %v", l.Widgets, l.Aliases)
		}
		if l.Name == "Inspections attachments" && (l.Widgets["data"] != "Binary" || l.Features == 0) {
			t.Errorf("Inspections attachments: widgets %v, %d rows", l.Widgets, l.Features)
		}
	}

	// 3. Rendered offscreen and not blank.
	f, err := os.Open(rep.PNG.Path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() != 800 || rep.PNG.Colors < 10 {
		t.Errorf("render: %v, %d colours", err, rep.PNG.Colors)
	}
	if os.Getenv("OFFLINED_QGIS_PNG") != "" {
		b, _ := os.ReadFile(rep.PNG.Path)
		os.WriteFile(os.Getenv("OFFLINED_QGIS_PNG"), b, 0o644)
	}

	// 4. The FeatureServer through QGIS: the store's count and values.
	fs := rep.FeatureServer
	if fs == nil || !fs.Valid {
		t.Fatalf("QGIS could not open %s: %+v", layerURL, fs)
	}
	if fs.Count != inspections || fs.Count == 0 {
		t.Errorf("QGIS read %d features through the FeatureServer, the GeoPackage has %d", fs.Count, inspections)
	}
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pkg.OpenGeodatabase(ctx, "data/Field_Survey.gpkg")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	checked := 0
	for _, ft := range fs.Features {
		gid := ft.Attrs["GlobalID"]
		if gid == nil || ft.WKT == "" {
			t.Fatalf("feature without GlobalID or geometry: %+v", ft)
		}
		st, err := db.Feature(ctx, 0, *gid)
		if err != nil || st == nil {
			t.Fatalf("store lacks %s: %v", *gid, err)
		}
		for k, v := range st.Attributes {
			s, ok := v.(string)
			if !ok || ft.Attrs[k] == nil {
				continue
			}
			if *ft.Attrs[k] != s && !strings.EqualFold(strings.Trim(*ft.Attrs[k], "{}"), strings.Trim(s, "{}")) {
				t.Errorf("%s.%s: QGIS %q, store %q", *gid, k, *ft.Attrs[k], s)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Error("no attribute value compared")
	}
	t.Logf("QGIS read %d features through the FeatureServer (%d string values compared); provider can add features: %v", fs.Count, checked, fs.CanAdd)
}
