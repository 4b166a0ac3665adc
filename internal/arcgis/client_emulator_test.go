package arcgis_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// These tests run the client against the in-process ArcGIS emulator.

func emuOptions(t *testing.T) emulator.Options {
	tiles := emulator.DemoTileOptions()
	tiles.WorkDir = t.TempDir()
	tiles.JobStep = 2 * time.Millisecond
	return emulator.Options{Tiles: tiles}
}

func emuClient(t *testing.T, em *emulatortest.Server, opts ...arcgis.Option) *arcgis.Client {
	t.Helper()
	base := []arcgis.Option{
		arcgis.WithPortal(em.PortalURL),
		arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithReferer("http://offlined.test"),
		arcgis.WithRetryPolicy(arcgis.RetryPolicy{MaxAttempts: 4, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Multiplier: 2, Jitter: 0.5, MaxElapsed: 20 * time.Second}),
		arcgis.WithPollInterval(2 * time.Millisecond),
	}
	c, err := arcgis.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// emuStart starts an emulator with emuOptions and returns it, a signed-in
// client and the test's context.
func emuStart(t *testing.T) (*emulatortest.Server, *arcgis.Client, context.Context) {
	t.Helper()
	em := emulatortest.Start(t, emuOptions(t))
	return em, emuClient(t, em), t.Context()
}

func demoEnvelope() *arcgis.Geometry {
	x0, y0, x1, y1 := -117.25, 33.98, -117.10, 34.10
	return &arcgis.Geometry{XMin: &x0, YMin: &y0, XMax: &x1, YMax: &y1, SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
}

func TestEmulatorTokenLifetimeAndExpiry(t *testing.T) {
	opts := emuOptions(t)
	opts.TokenLifetime = 800 * time.Millisecond
	clk := clock.NewFake(time.Now()) // the client's and the server's
	opts.Now = clk.Now
	em := emulatortest.Start(t, opts)
	c := emuClient(t, em, arcgis.WithClock(clk.Now))
	ctx := context.Background()
	layerURL := em.ServicesURL + "/Field_Survey/FeatureServer/0"
	if _, err := c.Layer(ctx, layerURL); err != nil {
		t.Fatal(err)
	}
	clk.Advance(900 * time.Millisecond) // the token has expired on the server
	if _, err := c.Layer(ctx, layerURL); err != nil {
		t.Fatalf("after token lifetime: %v", err)
	}
	em.SetFaults(emulator.Faults{ExpireTokensNow: true})
	if _, err := c.Layer(ctx, layerURL); err != nil {
		t.Fatalf("after forced expiry: %v", err)
	}
	em.SetFaults(emulator.Faults{ExpireTokensNow: true, TokenErrorAsHTTP: true})
	if _, err := c.Layer(ctx, layerURL); err != nil {
		t.Fatalf("after forced expiry answered as HTTP 401/403: %v", err)
	}
	if n := em.Log().Count("/generateToken"); n != 4 {
		t.Errorf("generateToken called %d times, want 4 (initial, lifetime, two forced expiries)", n)
	}
}

func TestEmulatorPortal(t *testing.T) {
	em, c, ctx := emuStart(t)
	info, err := c.PortalInfo(ctx)
	if err != nil || !strings.HasSuffix(info.AuthInfo.TokenServicesURL, "/sharing/rest/generateToken") {
		t.Fatalf("PortalInfo = %+v, %v", info, err)
	}
	self, err := c.PortalSelf(ctx)
	if err != nil || self.User == nil || self.User.Username != emulator.DemoUser {
		t.Fatalf("PortalSelf = %+v, %v", self, err)
	}
	var ids []string
	total := 0
	err = c.Search(ctx, arcgis.SearchParams{Q: `type:"Web Map"`, Num: 5}, func(p *arcgis.SearchResult) error {
		total = p.Total
		for _, it := range p.Results {
			ids = append(ids, it.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != total || total < emulator.DemoDistrictMaps || em.Log().Count("/sharing/rest/search") < total/5 {
		t.Errorf("search: %d ids, total %d, %d requests", len(ids), total, em.Log().Count("/sharing/rest/search"))
	}
	id := emulator.DemoDistrictWebMapID(2)
	it, err := c.Item(ctx, id)
	if err != nil || it.Type != "Web Map" || !it.HasTypeKeyword("Offline") {
		t.Fatalf("Item = %+v, %v", it, err)
	}
	var wm struct {
		OperationalLayers []struct {
			URL string `json:"url"`
		} `json:"operationalLayers"`
	}
	if err := c.ItemDataInto(ctx, id, &wm); err != nil || len(wm.OperationalLayers) == 0 {
		t.Fatalf("ItemDataInto = %+v, %v", wm, err)
	}
	if it.Thumbnail != "" {
		rc, _, err := c.Thumbnail(ctx, id, it.Thumbnail)
		if err != nil {
			t.Fatalf("Thumbnail: %v", err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if len(b) == 0 {
			t.Error("empty thumbnail")
		}
	}
	_, err = c.Item(ctx, emulator.DemoItemPrivateOtherID)
	if !arcgis.IsForbidden(err) {
		t.Errorf("private item of another user: err = %v, want 403", err)
	}
}

func TestEmulatorQueryPaging(t *testing.T) {
	opts := emuOptions(t)
	noPage := emulator.DemoFeatureService()
	noPage.Name = "No_Paging"
	noPage.NoPagination = true
	noPage.MaxRecordCount = 30
	opts.FeatureServices = []emulator.FeatureServiceOptions{emulator.DemoFeatureService(), noPage}
	em := emulatortest.Start(t, opts)
	c := emuClient(t, em)
	ctx := context.Background()
	for _, tc := range []struct {
		svc  string
		size int
	}{{"Field_Survey", 35}, {"No_Paging", 0}} {
		t.Run(tc.svc, func(t *testing.T) {
			layerURL := em.ServicesURL + "/" + tc.svc + "/FeatureServer/0"
			want := em.FeatureCount(tc.svc, 0)
			seen := map[int64]bool{}
			pages := 0
			expired := false
			err := c.QueryAll(ctx, layerURL, nil, arcgis.QueryParams{ResultRecordCount: tc.size, OutFields: []string{"OBJECTID", "GlobalID"}}, func(fs *arcgis.FeatureSet) error {
				pages++
				for _, f := range fs.Features {
					seen[int64(f.Attributes["OBJECTID"].(float64))] = true
				}
				if pages == 2 && !expired {
					expired = true
					em.SetFaults(emulator.Faults{ExpireTokensNow: true}) // token dies between pages
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != want || pages < 2 {
				t.Errorf("got %d distinct features in %d pages, want %d", len(seen), pages, want)
			}
			n, err := c.QueryCount(ctx, layerURL, arcgis.QueryParams{})
			if err != nil || n != want {
				t.Errorf("QueryCount = %d, %v; want %d", n, err, want)
			}
			ids, err := c.QueryIDs(ctx, layerURL, arcgis.QueryParams{})
			if err != nil || len(ids.ObjectIDs) != want {
				t.Errorf("QueryIDs = %d ids, %v", len(ids.ObjectIDs), err)
			}
		})
	}
}

func TestEmulatorFaults(t *testing.T) {
	em, c, ctx := emuStart(t)
	layerURL := em.ServicesURL + "/Field_Survey/FeatureServer/0"
	if _, err := c.Layer(ctx, layerURL); err != nil { // token first
		t.Fatal(err)
	}
	em.SetFaults(emulator.Faults{ErrorBurst: 2, Paths: []string{"/FeatureServer/0"}})
	if _, err := c.Query(ctx, layerURL, arcgis.QueryParams{Where: "1=1"}); err != nil {
		t.Fatalf("after a 503 burst: %v", err)
	}
	em.SetFaults(emulator.Faults{TooManyBurst: 1, RetryAfter: time.Second, Paths: []string{"/FeatureServer/0"}})
	start := time.Now()
	if _, err := c.Layer(ctx, layerURL); err != nil || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("429 with Retry-After: err=%v after %v", err, time.Since(start))
	}
	em.SetFaults(emulator.Faults{CutAfterBytes: 100, Paths: []string{"/FeatureServer/0/query"}})
	_, err := c.Query(ctx, layerURL, arcgis.QueryParams{})
	var re *arcgis.RetryError
	if !errors.As(err, &re) || re.Attempts != 4 {
		t.Fatalf("always-cut query: err = %v, want RetryError after 4 attempts", err)
	}
	em.SetFaults(emulator.Faults{ErrorBurst: 1, Paths: []string{"/applyEdits"}})
	_, err = c.ApplyEdits(ctx, layerURL, arcgis.ApplyEditsParams{Adds: []arcgis.Feature{{Attributes: map[string]any{"Status": "open"}}}})
	if err == nil || em.Log().Count("/applyEdits") != 1 {
		t.Errorf("applyEdits under a 503: err=%v after %d requests, want one failed request", err, em.Log().Count("/applyEdits"))
	}
	em.SetFaults(emulator.Faults{})
}

func TestEmulatorReplicaAndSync(t *testing.T) {
	em, c, ctx := emuStart(t)
	svc := em.ServicesURL + "/Field_Survey/FeatureServer"
	fsvc, err := c.FeatureService(ctx, svc)
	if err != nil || !fsvc.SyncEnabled || fsvc.SyncCapabilities == nil || !fsvc.SyncCapabilities.SupportsAsync {
		t.Fatalf("FeatureService = %+v, %v", fsvc, err)
	}
	resp, err := c.CreateReplica(ctx, svc, arcgis.CreateReplicaParams{
		ReplicaName: "client-test", Layers: []int{0, 1, 2, 3}, Geometry: demoEnvelope(), InSR: 4326, ReplicaSR: 3857,
		LayerQueries:      map[int]arcgis.ReplicaLayerQuery{0: {QueryOption: "all"}, 1: {QueryOption: "all"}, 2: {QueryOption: "all"}, 3: {QueryOption: "all"}},
		ReturnAttachments: arcgis.Bool(true), Async: true, SyncModel: arcgis.SyncModelPerLayer, DataFormat: "json",
		AttachmentsSyncDirection: "bidirectional", SyncDirection: arcgis.SyncBidirectional, TransportType: arcgis.TransportURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusURL == "" {
		t.Fatalf("async createReplica without statusUrl: %s", resp.Raw)
	}
	var statuses []string
	st, err := c.WaitReplicaJob(ctx, resp.StatusURL, 0, func(s *arcgis.ReplicaJobStatus) { statuses = append(statuses, s.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) < 2 || st.ResultURL == "" || len(st.LayerServerGens) != 4 {
		t.Fatalf("statuses %v, final %+v", statuses, st)
	}
	rep, err := c.ReadReplicaJSON(ctx, st.ResultURL)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rep.LayerData()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	atts := 0
	for _, l := range data {
		counts[l.ID] = len(l.Features)
		atts += len(l.Attachments)
	}
	if counts[0] != em.FeatureCount("Field_Survey", 0) || counts[3] != em.FeatureCount("Field_Survey", 3) || atts == 0 {
		t.Errorf("replica counts %v (%d attachments), server has %d points and %d notes", counts, atts, em.FeatureCount("Field_Survey", 0), em.FeatureCount("Field_Survey", 3))
	}
	list, err := c.Replicas(ctx, svc)
	if err != nil || len(list) != 1 || list[0].ReplicaID != rep.ReplicaID {
		t.Fatalf("Replicas = %+v, %v", list, err)
	}
	info, err := c.ReplicaInfo(ctx, svc, rep.ReplicaID)
	if err != nil || info.SyncModel != arcgis.SyncModelPerLayer {
		t.Fatalf("ReplicaInfo = %+v, %v", info, err)
	}

	// another user edits the server; we upload one add and download theirs
	x, y := -13046000.0, 4030000.0
	if err := em.EditFeatures("Field_Survey", 0, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": "{AAAAAAAA-0000-0000-0000-000000000001}"}, Geometry: &arcgis.Geometry{X: &x, Y: &y}}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	var layers []arcgis.SyncLayer
	for _, g := range st.LayerServerGens {
		layers = append(layers, arcgis.SyncLayer{ID: g.ID, ServerGen: g.ServerGen, SyncDirection: arcgis.SyncBidirectional})
	}
	mine := "{BBBBBBBB-0000-0000-0000-000000000002}"
	res, err := c.SynchronizeReplica(ctx, svc, arcgis.SyncReplicaParams{
		ReplicaID: rep.ReplicaID, SyncLayers: layers, TransportType: arcgis.TransportEmbedded, DataFormat: "json", ReturnIDsForAdds: true,
		RollbackOnFailure: arcgis.Bool(true),
		Edits:             []arcgis.SyncLayerEdits{{ID: 0, Features: &arcgis.FeatureChanges{Adds: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": mine}, Geometry: &arcgis.Geometry{X: &x, Y: &y}}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResultURL != "" && len(res.Edits) == 0 {
		if res, err = c.ReadSyncResult(ctx, res.ResultURL); err != nil {
			t.Fatal(err)
		}
	}
	var up, down bool
	for _, l := range res.Edits {
		if l.ID != 0 {
			continue
		}
		for _, a := range l.AddResults {
			up = up || (a.Success && strings.EqualFold(a.GlobalID, mine))
		}
		if l.Features != nil {
			for _, f := range l.Features.Adds {
				down = down || f.Attributes["GlobalID"] == "{AAAAAAAA-0000-0000-0000-000000000001}"
			}
		}
	}
	if !up || !down || len(res.LayerServerGens) == 0 {
		t.Errorf("sync result: uploaded=%v downloaded=%v gens=%v raw=%.400s", up, down, res.LayerServerGens, res.Raw)
	}
	if _, ok := em.Feature("Field_Survey", 0, mine); !ok {
		t.Error("uploaded add is not on the server")
	}
	if err := c.UnregisterReplica(ctx, svc, rep.ReplicaID); err != nil {
		t.Fatal(err)
	}
	if list, _ := c.Replicas(ctx, svc); len(list) != 0 {
		t.Errorf("replica still registered: %+v", list)
	}

	// a service without Sync refuses createReplica with an error, not data
	_, err = c.CreateReplica(ctx, em.ServicesURL+"/Reference_Data/FeatureServer", arcgis.CreateReplicaParams{Layers: []int{0}, Geometry: demoEnvelope()})
	var ae *arcgis.Error
	var ue *arcgis.UnexpectedResponseError
	if !errors.As(err, &ae) && !errors.As(err, &ue) {
		t.Errorf("createReplica on a non-Sync service: err = %v", err)
	}
}

func TestEmulatorReplicaCancelledWait(t *testing.T) {
	opts := emuOptions(t)
	slow := emulator.DemoFeatureService()
	slow.JobPolls = 1000
	opts.FeatureServices = []emulator.FeatureServiceOptions{slow}
	em := emulatortest.Start(t, opts)
	c := emuClient(t, em)
	resp, err := c.CreateReplica(context.Background(), em.ServicesURL+"/Field_Survey/FeatureServer", arcgis.CreateReplicaParams{
		Layers: []int{0}, Geometry: demoEnvelope(), InSR: 4326, Async: true, SyncModel: arcgis.SyncModelPerLayer, DataFormat: "json"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.WaitReplicaJob(ctx, resp.StatusURL, 5*time.Millisecond, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
}

func TestEmulatorEditsUploadsAttachments(t *testing.T) {
	em, c, ctx := emuStart(t)
	svc := em.ServicesURL + "/Field_Survey/FeatureServer"
	layerURL := svc + "/0"
	photo := bytes.Repeat([]byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}, 100)
	up, err := c.Upload(ctx, svc, "photo.jpg", bytes.NewReader(photo), "a photo")
	if err != nil || up.ItemID == "" {
		t.Fatalf("Upload = %+v, %v", up, err)
	}
	big, err := c.UploadLarge(ctx, svc, "big.jpg", bytes.NewReader(photo), 256, "")
	if err != nil || big.ItemID == "" {
		t.Fatalf("UploadLarge = %+v, %v", big, err)
	}
	gid := "{CCCCCCCC-0000-0000-0000-000000000003}"
	attGID := "{DDDDDDDD-0000-0000-0000-000000000004}"
	x, y := -13046000.0, 4030000.0
	res, err := c.ApplyEdits(ctx, layerURL, arcgis.ApplyEditsParams{
		Adds: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gid}, Geometry: &arcgis.Geometry{X: &x, Y: &y}}}, UseGlobalIDs: true,
		Attachments: &arcgis.ApplyAttachmentEdits{Adds: []arcgis.AttachmentEdit{{GlobalID: attGID, ParentGlobalID: gid, Name: "photo.jpg", ContentType: "image/jpeg", UploadID: big.ItemID}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.AddResults) != 1 || !res.AddResults[0].Success || res.Attachments == nil || len(res.Attachments.AddResults) != 1 || !res.Attachments.AddResults[0].Success {
		t.Fatalf("applyEdits = %+v", res)
	}
	oid := res.AddResults[0].ObjectID
	// adding the same GlobalID again fails (useGlobalIds preserves ids)
	again, err := c.ApplyEdits(ctx, layerURL, arcgis.ApplyEditsParams{Adds: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gid}, Geometry: &arcgis.Geometry{X: &x, Y: &y}}}, UseGlobalIDs: true, RollbackOnFailure: arcgis.Bool(false)})
	if err == nil && (len(again.Failed()) != 1) {
		t.Errorf("duplicate GlobalID add: %+v", again)
	}
	groups, err := c.QueryAttachments(ctx, layerURL, arcgis.QueryAttachmentsParams{ObjectIDs: []int64{oid}})
	if err != nil || len(groups) != 1 || len(groups[0].AttachmentInfos) != 1 || groups[0].AttachmentInfos[0].Size != int64(len(photo)) {
		t.Fatalf("QueryAttachments = %+v, %v", groups, err)
	}
	infos, err := c.Attachments(ctx, layerURL, oid)
	if err != nil || len(infos) != 1 {
		t.Fatalf("Attachments = %+v, %v", infos, err)
	}
	rc, ct, err := c.AttachmentData(ctx, layerURL, oid, infos[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, photo) || !strings.HasPrefix(ct, "image/jpeg") {
		t.Errorf("attachment bytes differ (%d vs %d), type %q", len(got), len(photo), ct)
	}
	out, err := c.ApplyServiceEdits(ctx, svc, []arcgis.LayerEdits{{ID: 0, Deletes: []any{gid}}}, true, nil)
	if err != nil || len(out) != 1 || len(out[0].DeleteResults) != 1 || !out[0].DeleteResults[0].Success {
		t.Errorf("service applyEdits delete = %+v, %v", out, err)
	}
	if err := c.DeleteUpload(ctx, svc, up.ItemID); err != nil {
		t.Errorf("DeleteUpload: %v", err)
	}
}

// tileOf returns the Web Mercator tile of lon/lat at level z.
func tileOf(lon, lat float64, z int) (row, col int) {
	n := math.Exp2(float64(z))
	col = int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	row = int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return row, col
}

func TestEmulatorTilesAndExport(t *testing.T) {
	em, c, ctx := emuStart(t)
	svc := em.ServicesURL + "/Demo_Basemap/MapServer"
	ms, err := c.MapService(ctx, svc)
	if err != nil || !ms.IsCached() || !ms.ExportTilesAllowed || ms.MaxExportTilesCount != 100000 || ms.TileInfo.Rows != 256 {
		t.Fatalf("MapService = %+v, %v", ms, err)
	}
	row, col := tileOf(-117.17, 34.04, 12)
	tile, err := c.MapTile(ctx, svc, 12, row, col)
	if err != nil || !strings.HasPrefix(tile.ContentType, "image/png") || string(tile.Data[1:4]) != "PNG" {
		t.Fatalf("MapTile = %v", err)
	}
	if want, ok := em.TileBytes("Demo_Basemap", 12, row, col); !ok || !bytes.Equal(want, tile.Data) {
		t.Errorf("map tile differs from the emulator's bytes")
	}
	if _, err := c.MapTile(ctx, svc, 12, 0, 0); !errors.Is(err, arcgis.ErrTileAbsent) {
		t.Errorf("tile outside the data: err = %v, want ErrTileAbsent", err)
	}
	if !ms.SupportsTilemap() {
		t.Errorf("demo basemap capabilities %q lack Tilemap", ms.Capabilities)
	}
	tm, err := c.Tilemap(ctx, svc, 12, row-2, col-2, 8, 8)
	if err != nil || !tm.Has(row, col) || tm.Has(0, 0) {
		t.Errorf("Tilemap = %+v, %v", tm, err)
	}
	p := arcgis.ExportTilesParams{Levels: "10-12", TilePackage: arcgis.Bool(true), ExportExtent: &arcgis.Envelope{XMin: -117.25, YMin: 33.98, XMax: -117.10, YMax: 34.10, SpatialReference: &arcgis.SpatialReference{WKID: 4326}}}
	est, err := c.EstimateExportTilesSize(ctx, svc, p)
	if err != nil {
		t.Fatal(err)
	}
	est1, err := c.WaitJob(ctx, est.JobURL, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	size, err := c.EstimateResult(ctx, est.JobURL, est1)
	if err != nil || size.TotalTilesToExport <= 0 {
		t.Fatalf("EstimateResult = %+v, %v", size, err)
	}
	sub, err := c.ExportTiles(ctx, svc, p)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	st, err := c.WaitJob(ctx, sub.JobURL, 0, func(s *arcgis.JobStatus) { seen = append(seen, s.JobStatus) })
	if err != nil {
		t.Fatalf("export job: %v (statuses %v)", err, seen)
	}
	u, err := c.ResolveExportOutput(ctx, sub.JobURL, st, ".tpkx", ".tpk")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Download(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	pkg, _ := io.ReadAll(rc)
	rc.Close()
	if len(pkg) < 100 || string(pkg[:2]) != "PK" {
		t.Errorf("downloaded package is not a zip: %d bytes", len(pkg))
	}

	// a failing job ends with a JobError
	em.SetFaults(emulator.Faults{FailJobs: true})
	sub, err = c.ExportTiles(ctx, svc, p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitJob(ctx, sub.JobURL, 0, nil)
	var je *arcgis.JobError
	if !errors.As(err, &je) || je.Status.JobStatus != arcgis.JobFailed {
		t.Errorf("failed job: err = %v", err)
	}
	em.SetFaults(emulator.Faults{})
}

func TestEmulatorVectorTiles(t *testing.T) {
	em, c, ctx := emuStart(t)
	svc := em.ServicesURL + "/Demo_Vector/VectorTileServer"
	v, err := c.VectorTileService(ctx, svc)
	if err != nil || v.TileInfo == nil || v.TileInfo.Rows != 512 {
		t.Fatalf("VectorTileService = %+v, %v", v, err)
	}
	if _, err := c.VectorTileStyle(ctx, svc); err != nil {
		t.Fatalf("style: %v", err)
	}
	for _, hi := range []bool{false, true} {
		if idx, png, err := c.Sprite(ctx, svc, hi); err != nil || len(idx) == 0 || len(png) == 0 {
			t.Fatalf("sprite(2x=%v): %v", hi, err)
		}
	}
	if g, err := c.Glyphs(ctx, svc, "Arial Regular", 0); err != nil || len(g) == 0 {
		t.Errorf("glyphs: %v", err)
	}
	row, col := tileOf(-117.17, 34.04, 12)
	tile, err := c.VectorTile(ctx, svc, v, 12, row, col)
	if err != nil || len(tile.Data) == 0 {
		t.Fatalf("vector tile: %v", err)
	}
	want, ok, err := em.VectorTileBytes("Demo_Vector", 12, row, col)
	if err != nil || !ok || !bytes.Equal(tile.Data, want) || tile.ContentEncoding != "gzip" || tile.Data[0] != 0x1f {
		t.Errorf("vector tile not as served: %d bytes (encoding %q), emulator has %d", len(tile.Data), tile.ContentEncoding, len(want))
	}
	if !v.ExportTilesAllowed {
		t.Errorf("demo vector service does not allow exportTiles")
	}
	{
		sub, err := c.ExportVectorTiles(ctx, svc, arcgis.ExportTilesParams{Levels: "0-10", Polygon: &arcgis.Geometry{
			Rings: [][][]float64{{{-117.25, 33.98}, {-117.25, 34.10}, {-117.10, 34.10}, {-117.10, 33.98}, {-117.25, 33.98}}}, SpatialReference: &arcgis.SpatialReference{WKID: 4326}}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.WaitJob(ctx, sub.JobURL, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.ResolveExportOutput(ctx, sub.JobURL, st, ".vtpk")
		if err != nil || !strings.HasSuffix(u, ".vtpk") {
			t.Fatalf("vtpk output = %q, %v", u, err)
		}
	}
}

func TestEmulatorOAuthAndAPIKeys(t *testing.T) {
	em := emulatortest.Start(t, emuOptions(t))
	ctx := context.Background()
	layerURL := em.ServicesURL + "/Field_Survey/FeatureServer/0"
	rt := em.IssueRefreshToken(emulator.DemoUser)
	em.RegisterApp("field-app", "field-secret", "")
	em.AddAPIKey("key-123", emulator.DemoUser)
	expired := em.IssueRefreshTokenFor(emulator.DemoUser, emulator.DemoClientID, -time.Second)
	for _, tc := range []struct {
		name string
		cred arcgis.Credential
		ok   bool
	}{
		{"refresh_token", &arcgis.OAuthRefreshCredential{ClientID: emulator.DemoClientID, RefreshToken: rt}, true},
		{"client_credentials", &arcgis.OAuthClientCredential{ClientID: "field-app", ClientSecret: "field-secret", ExpirationMinutes: 30}, true},
		{"api key", arcgis.APIKey("key-123"), true},
		{"expired refresh token", &arcgis.OAuthRefreshCredential{ClientID: emulator.DemoClientID, RefreshToken: expired}, false},
		{"wrong secret", &arcgis.OAuthClientCredential{ClientID: "field-app", ClientSecret: "nope"}, false},
		{"anonymous", arcgis.Anonymous(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := emuClient(t, em, arcgis.WithCredential(tc.cred))
			_, err := c.Layer(ctx, layerURL)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			var ae *arcgis.Error
			if !tc.ok && !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *arcgis.Error", err)
			}
			if tc.ok {
				em.SetFaults(emulator.Faults{ExpireTokensNow: true})
				if _, err := c.Layer(ctx, layerURL); err != nil {
					t.Fatalf("after forced expiry: %v", err)
				}
			}
		})
	}
}

func TestEmulatorSyncCreateAndAsyncSync(t *testing.T) {
	em, c, ctx := emuStart(t)
	svc := em.ServicesURL + "/Field_Survey/FeatureServer"
	resp, err := c.CreateReplica(ctx, svc, arcgis.CreateReplicaParams{Layers: []int{2}, Geometry: demoEnvelope(), InSR: 4326,
		SyncModel: arcgis.SyncModelPerReplica, TransportType: arcgis.TransportEmbedded, DataFormat: "json"})
	if err != nil {
		t.Fatal(err)
	}
	rep := resp.Replica
	if rep == nil && resp.ResultURL != "" {
		rep, err = c.ReadReplicaJSON(ctx, resp.ResultURL)
		if err != nil {
			t.Fatal(err)
		}
	}
	if rep == nil || rep.ReplicaID == "" {
		t.Fatalf("sync createReplica = %+v (%s)", resp, resp.Raw)
	}
	data, err := rep.LayerData()
	if err != nil || len(data) != 1 || len(data[0].Features) != em.FeatureCount("Field_Survey", 2) {
		t.Fatalf("replica data: %d layers, %v", len(data), err)
	}
	gen := rep.ReplicaServerGen
	if err := em.EditFeatures("Field_Survey", 2, nil, nil, []string{data[0].Features[0].Attributes["GlobalID"].(string)}); err != nil {
		t.Fatal(err)
	}
	res, err := c.SynchronizeReplica(ctx, svc, arcgis.SyncReplicaParams{ReplicaID: rep.ReplicaID, ReplicaServerGen: &gen,
		SyncDirection: arcgis.SyncDownload, Async: true, DataFormat: "json"})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusURL == "" {
		t.Fatalf("async sync without statusUrl: %s", res.Raw)
	}
	st, err := c.WaitReplicaJob(ctx, res.StatusURL, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.ReadSyncResult(ctx, st.ResultURL)
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	for _, l := range out.Edits {
		if l.ID == 2 && l.Features != nil {
			for _, id := range l.Features.DeleteIDs {
				deleted = deleted || id == data[0].Features[0].Attributes["GlobalID"]
			}
		}
	}
	if !deleted || out.ReplicaServerGen <= gen {
		t.Errorf("download: deleted=%v gen %d -> %d (%.300s)", deleted, gen, out.ReplicaServerGen, out.Raw)
	}
}

func TestEmulatorServerInfo(t *testing.T) {
	em := emulatortest.Start(t, emuOptions(t))
	c := emuClient(t, em)
	root := arcgis.ServerRoot(em.ServicesURL + "/Field_Survey/FeatureServer/0")
	if root != em.URL+"/arcgis" {
		t.Fatalf("ServerRoot = %q", root)
	}
	info, err := c.ServerInfo(context.Background(), root)
	if err != nil || info.CurrentVersion < 10 || !info.AuthInfo.IsTokenBasedSecurity || info.OwningSystemURL != em.URL {
		t.Fatalf("ServerInfo = %+v, %v", info, err)
	}
	if arcgis.ServerRoot("https://host/other/path") != "" {
		t.Error("ServerRoot of a non-service URL is not empty")
	}
}
