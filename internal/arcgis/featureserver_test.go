package arcgis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pagedLayer serves a layer of n point features with maxRecordCount max
// and the given pagination support.
func pagedLayer(t *testing.T, f *fakeServer, n, max int, pagination bool, check func(http.ResponseWriter, *http.Request) bool) {
	f.handle("/svc/FeatureServer/0", func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(w, r) {
			return
		}
		writeJSONBody(w, 200, map[string]any{"id": 0, "name": "Inspections", "type": "Feature Layer", "geometryType": GeometryPoint,
			"objectIdField": "OBJECTID", "fields": []map[string]any{{"name": "OBJECTID", "type": FieldOID}}, "maxRecordCount": max,
			"advancedQueryCapabilities": map[string]any{"supportsPagination": pagination}})
	})
	f.handle("/svc/FeatureServer/0/query", func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(w, r) {
			return
		}
		_ = r.ParseForm()
		if r.Form.Get("returnIdsOnly") == "true" {
			ids := make([]int64, 0, n)
			for i := n; i >= 1; i-- { // unsorted on purpose
				ids = append(ids, int64(i))
			}
			writeJSONBody(w, 200, map[string]any{"objectIdFieldName": "OBJECTID", "objectIds": ids})
			return
		}
		if r.Form.Get("returnCountOnly") == "true" {
			writeJSONBody(w, 200, map[string]any{"count": n})
			return
		}
		var sel []int
		if s := r.Form.Get("objectIds"); s != "" {
			for _, p := range strings.Split(s, ",") {
				id, _ := strconv.Atoi(p)
				sel = append(sel, id)
			}
		} else {
			if !pagination && r.Form.Get("resultOffset") != "" {
				writeJSONBody(w, 200, arcErr(400, "Pagination is not supported."))
				return
			}
			off, _ := strconv.Atoi(r.Form.Get("resultOffset"))
			cnt, _ := strconv.Atoi(r.Form.Get("resultRecordCount"))
			if cnt == 0 || cnt > max {
				cnt = max
			}
			for id := off + 1; id <= n && id <= off+cnt; id++ {
				sel = append(sel, id)
			}
		}
		exceeded := false
		if len(sel) > max {
			sel, exceeded = sel[:max], true
		}
		if r.Form.Get("objectIds") == "" {
			off, _ := strconv.Atoi(r.Form.Get("resultOffset"))
			exceeded = off+len(sel) < n
		}
		feats := make([]map[string]any, 0, len(sel))
		for _, id := range sel {
			feats = append(feats, map[string]any{"attributes": map[string]any{"OBJECTID": id}, "geometry": map[string]any{"x": -117.2, "y": 34.0}})
		}
		writeJSONBody(w, 200, map[string]any{"objectIdFieldName": "OBJECTID", "geometryType": GeometryPoint, "features": feats, "exceededTransferLimit": exceeded})
	})
}

func collectIDs(t *testing.T, c *Client, layerURL string, p QueryParams) ([]int, int) {
	t.Helper()
	var ids []int
	pages := 0
	err := c.QueryAll(context.Background(), layerURL, nil, p, func(fs *FeatureSet) error {
		pages++
		for _, f := range fs.Features {
			ids = append(ids, int(f.Attributes["OBJECTID"].(float64)))
			if f.Geometry.Type() != GeometryPoint {
				t.Errorf("feature %v has geometry type %q", f.Attributes, f.Geometry.Type())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("QueryAll: %v", err)
	}
	return ids, pages
}

func TestQueryAllPaging(t *testing.T) {
	for _, pagination := range []bool{true, false} {
		t.Run(fmt.Sprintf("pagination=%v", pagination), func(t *testing.T) {
			f := newFakeServer(t)
			pagedLayer(t, f, 23, 5, pagination, nil)
			c := newTestClient(t, "")
			ids, pages := collectIDs(t, c, f.URL+"/svc/FeatureServer/0", QueryParams{})
			if len(ids) != 23 || pages != 5 {
				t.Fatalf("got %d features in %d pages, want 23 in 5", len(ids), pages)
			}
			for i, id := range ids {
				if id != i+1 {
					t.Fatalf("ids[%d] = %d, want %d (every feature once, in order)", i, id, i+1)
				}
			}
			n, err := c.QueryCount(context.Background(), f.URL+"/svc/FeatureServer/0", QueryParams{Where: "1=1"})
			if err != nil || n != 23 {
				t.Errorf("QueryCount = %d, %v; want 23", n, err)
			}
		})
	}
}

func TestQueryParamsOnWire(t *testing.T) {
	f := newFakeServer(t)
	form := f.captureForm("/svc/FeatureServer/0/query", false, func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"features": []any{}})
	})
	c := newTestClient(t, "")
	x0, y0, x1, y1 := -117.25, 33.98, -117.10, 34.10
	_, err := c.Query(context.Background(), f.URL+"/svc/FeatureServer/0", QueryParams{
		Where: "STATUS='open'", Geometry: &Geometry{XMin: &x0, YMin: &y0, XMax: &x1, YMax: &y1}, InSR: 4326,
		OutFields: []string{"OBJECTID", "STATUS"}, ReturnGeometry: Bool(false), OutSR: 3857, OrderByFields: "OBJECTID ASC",
		ResultOffset: 10, ResultRecordCount: 5, ReturnZ: true})
	if err != nil {
		t.Fatal(err)
	}
	q := form()
	want := map[string]string{"where": "STATUS='open'", "geometryType": GeometryEnvelope, "inSR": "4326", "spatialRel": "esriSpatialRelIntersects",
		"outFields": "OBJECTID,STATUS", "returnGeometry": "false", "outSR": "3857", "orderByFields": "OBJECTID ASC",
		"resultOffset": "10", "resultRecordCount": "5", "returnZ": "true", "f": "json"}
	for k, v := range want {
		if got := q[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	var g Geometry
	if err := json.Unmarshal([]byte(q["geometry"][0]), &g); err != nil || g.Type() != GeometryEnvelope || *g.XMin != x0 {
		t.Errorf("geometry = %q (%v)", q["geometry"], err)
	}
}

func TestTokenRenewedMidPagedQuery(t *testing.T) {
	ts := newTokenServer(t)
	var queries atomic.Int64
	pagedLayer(t, ts.fakeServer, 30, 4, true, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/query") && queries.Add(1) == 4 {
			ts.expire("tok1") // token expires on the server in the middle of paging
		}
		return ts.check(w, r)
	})
	c := newTestClient(t, ts.URL, WithCredential(&UserCredential{Username: "demo", Password: "pw"}))
	ids, _ := collectIDs(t, c, ts.URL+"/svc/FeatureServer/0", QueryParams{})
	if len(ids) != 30 || ids[29] != 30 {
		t.Fatalf("got %d features, want all 30", len(ids))
	}
	if ts.issuedCount() != 2 {
		t.Errorf("issued %d tokens, want 2", ts.issuedCount())
	}
}

// replicaServer serves an async createReplica whose status goes
// Pending → InProgress → Completed (or stays Pending forever).
func replicaServer(t *testing.T, f *fakeServer, stuck bool, final string) {
	var polls atomic.Int64
	f.handle("/svc/FeatureServer/createReplica", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.Method != http.MethodPost || r.PostForm.Get("async") != "true" || r.PostForm.Get("layers") != "0,1" {
			writeJSONBody(w, 200, arcErr(400, "bad request: "+r.PostForm.Encode()))
			return
		}
		var lq map[string]ReplicaLayerQuery
		if err := json.Unmarshal([]byte(r.PostForm.Get("layerQueries")), &lq); err != nil || lq["1"].QueryOption != "none" || lq["0"].Where != "STATUS='open'" {
			writeJSONBody(w, 200, arcErr(400, "bad layerQueries "+r.PostForm.Get("layerQueries")))
			return
		}
		writeJSONBody(w, 200, map[string]any{"statusUrl": "http://" + r.Host + "/svc/FeatureServer/jobs/j1"})
	})
	f.handle("/svc/FeatureServer/jobs/j1", func(w http.ResponseWriter, r *http.Request) {
		n := polls.Add(1)
		status := "Pending"
		switch {
		case stuck:
		case n == 2:
			status = "ExportingData"
		case n >= 3:
			status = final
		}
		body := map[string]any{"status": status, "replicaName": "r", "replicaID": "{R1}", "submissionTime": 1, "lastUpdatedTime": 2,
			"transportType": "esriTransportTypeURL", "responseType": ResponseTypeData}
		if status == "Completed" {
			body["layerServerGens"] = []map[string]any{{"id": 0, "serverGen": 1746014194603}, {"id": 1, "serverGen": 1746014194603}}
			body["resultUrl"] = "http://" + r.Host + "/svc/FeatureServer/replicafiles/r.json"
		}
		if status == "Failed" {
			body["error"] = map[string]any{"code": 500, "message": "replica export failed"}
		}
		writeJSONBody(w, 200, body)
	})
	f.handle("/svc/FeatureServer/replicafiles/r.json", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("token") != "k" {
			writeJSONBody(w, 200, arcErr(499, "Token Required"))
			return
		}
		writeJSONBody(w, 200, map[string]any{"replicaName": "r", "replicaID": "{R1}", "layerServerGens": []map[string]any{{"id": 0, "serverGen": 5}},
			"layers": []map[string]any{{"id": 0, "features": []map[string]any{{"attributes": map[string]any{"GlobalID": "{G1}"}, "geometry": map[string]any{"x": 1, "y": 2}}},
				"attachments": []map[string]any{{"id": 1, "globalId": "{A1}", "parentGlobalId": "{G1}", "name": "p.jpg", "contentType": "image/jpeg", "size": 3, "url": "http://x/a"}}}}})
	})
}

func replicaParams() CreateReplicaParams {
	x0, y0, x1, y1 := -117.25, 33.98, -117.10, 34.10
	return CreateReplicaParams{ReplicaName: "r", Layers: []int{0, 1},
		LayerQueries: map[int]ReplicaLayerQuery{0: {QueryOption: "useFilter", Where: "STATUS='open'", UseGeometry: Bool(true)}, 1: {QueryOption: "none"}},
		Geometry:     &Geometry{XMin: &x0, YMin: &y0, XMax: &x1, YMax: &y1, SpatialReference: &SpatialReference{WKID: 4326}}, InSR: 4326, ReplicaSR: 3857,
		TransportType: TransportURL, ReturnAttachments: Bool(true), ReturnAttachmentsDataByURL: Bool(true), Async: true, SyncModel: SyncModelPerLayer,
		DataFormat: "json", TargetType: "client", SyncDirection: SyncBidirectional, AttachmentsSyncDirection: "bidirectional",
		ReplicaOptions: map[string]any{"syncDataOptions": 4}}
}

func TestCreateReplicaAsyncPollAndDownload(t *testing.T) {
	f := newFakeServer(t)
	replicaServer(t, f, false, ReplicaStatusCompleted)
	c := newTestClient(t, "", WithCredential(APIKey("k")))
	ctx := context.Background()
	resp, err := c.CreateReplica(ctx, f.URL+"/svc/FeatureServer", replicaParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(resp.StatusURL, "/jobs/j1") {
		t.Fatalf("statusUrl = %q", resp.StatusURL)
	}
	var seen []string
	st, err := c.WaitReplicaJob(ctx, resp.StatusURL, time.Millisecond, func(s *ReplicaJobStatus) { seen = append(seen, s.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "Pending,ExportingData,Completed" || len(st.LayerServerGens) != 2 || st.LayerServerGens[1].ServerGen != 1746014194603 {
		t.Errorf("statuses %v, gens %+v", seen, st.LayerServerGens)
	}
	rep, err := c.ReadReplicaJSON(ctx, st.ResultURL)
	if err != nil {
		t.Fatal(err)
	}
	data, err := rep.LayerData()
	if err != nil || len(data) != 1 || data[0].Features[0].Attributes["GlobalID"] != "{G1}" || data[0].Attachments[0].ParentGlobalID != "{G1}" {
		t.Fatalf("layer data = %+v, %v", data, err)
	}
}

func TestReplicaJobFailedAndCancel(t *testing.T) {
	f := newFakeServer(t)
	replicaServer(t, f, false, ReplicaStatusFailed)
	c := newTestClient(t, "", WithCredential(APIKey("k")))
	resp, err := c.CreateReplica(context.Background(), f.URL+"/svc/FeatureServer", replicaParams())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitReplicaJob(context.Background(), resp.StatusURL, time.Millisecond, nil)
	var je *ReplicaJobError
	var ae *Error
	if !errors.As(err, &je) || je.Status.Status != "Failed" || !errors.As(err, &ae) || ae.Message != "replica export failed" ||
		!strings.Contains(err.Error(), "ended Failed") {
		t.Fatalf("err = %v, want ReplicaJobError carrying the job error", err)
	}

	g := newFakeServer(t)
	replicaServer(t, g, true, "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polls := 0
	start := time.Now()
	_, err = c.WaitReplicaJob(ctx, g.URL+"/svc/FeatureServer/jobs/j1", 5*time.Millisecond, func(*ReplicaJobStatus) {
		if polls++; polls == 2 {
			cancel() // the wait is cancelled between two polls
		}
	})
	if !errors.Is(err, context.Canceled) || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v, want context.Canceled promptly", err, time.Since(start))
	}
	if g.count("/svc/FeatureServer/jobs/j1") < 2 {
		t.Errorf("polled %d times before cancel", g.count("/svc/FeatureServer/jobs/j1"))
	}
}

func TestCreateReplicaSyncShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		want func(*ReplicaResponse) bool
	}{
		{"embedded", `{"replicaName":"r","replicaID":"{R}","transportType":"esriTransportTypeEmbedded","responseType":"esriReplicaResponseTypeData","replicaServerGen":7,"layers":[{"id":0,"features":[]}]}`,
			func(r *ReplicaResponse) bool {
				return r.Replica != nil && r.Replica.ReplicaServerGen == 7 && r.ResultURL == ""
			}},
		{"responseUrl", `{"replicaName":"r","replicaID":"{R}","responseUrl":"http://h/replicafiles/r.json"}`,
			func(r *ReplicaResponse) bool {
				return r.ResultURL == "http://h/replicafiles/r.json" && r.Replica.ReplicaID == "{R}"
			}},
		{"URL", `{"URL":"http://h/replicafiles/r.geodatabase"}`, func(r *ReplicaResponse) bool { return r.ResultURL == "http://h/replicafiles/r.geodatabase" }},
		{"resultUrl", `{"resultUrl":"http://h/r.json","replicaID":"{R}"}`, func(r *ReplicaResponse) bool { return r.ResultURL == "http://h/r.json" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseReplicaResponse([]byte(tt.body))
			if err != nil || !tt.want(r) {
				t.Errorf("parseReplicaResponse = %+v, %v", r, err)
			}
		})
	}
	if _, err := parseReplicaResponse(readFixture(t, "featureserver-service.arcgis-rest-js.json")); err == nil {
		t.Error("service JSON accepted as a replica response")
	}
}

func TestCreateReplicaParamsOnWire(t *testing.T) {
	p := replicaParams()
	p.InSRJSON = &SpatialReference{WKID: 4326}
	p.SyncDataOptions = Int(4)
	q, err := p.values()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"replicaName": "r", "layers": "0,1", "geometryType": GeometryEnvelope, "inSR": `{"wkid":4326}`, "replicaSR": "3857",
		"transportType": TransportURL, "returnAttachments": "true", "returnAttachmentsDataByUrl": "true", "async": "true", "syncModel": "perLayer",
		"dataFormat": "json", "targetType": "client", "syncDirection": "bidirectional", "attachmentsSyncDirection": "bidirectional",
		"replicaOptions": `{"syncDataOptions":4}`, "syncDataOptions": "4",
		"layerQueries": `{"0":{"queryOption":"useFilter","where":"STATUS='open'","useGeometry":true},"1":{"queryOption":"none"}}`}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
}

func TestSynchronizeReplica(t *testing.T) {
	f := newFakeServer(t)
	form := f.captureForm("/svc/FeatureServer/synchronizeReplica", true, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"replicaName":"r","replicaID":"{R1}","responseType":"esriReplicaResponseTypeEdits","transportType":"esriTransportTypeEmbedded",
		"layerServerGens":[{"id":0,"serverGen":12}],
		"edits":[{"id":0,"addResults":[{"objectId":5,"globalId":"{G2}","success":true}],"updateResults":[],
		"deleteResults":[{"globalId":"{G9}","success":false,"error":{"code":1019,"description":"Delete failed"}}],
		"attachments":{"addResults":[{"globalId":"{A2}","success":true}]},
		"features":{"adds":[{"attributes":{"GlobalID":"{S1}"},"geometry":{"x":1,"y":2}}],"updates":[],"deleteIds":["{S7}"]}}]}`)
	})
	c := newTestClient(t, "")
	res, err := c.SynchronizeReplica(context.Background(), f.URL+"/svc/FeatureServer", SyncReplicaParams{
		ReplicaID: "{R1}", SyncLayers: []SyncLayer{{ID: 0, ServerGen: 11, SyncDirection: SyncBidirectional}},
		Edits: []SyncLayerEdits{{ID: 0, Features: &FeatureChanges{Adds: []Feature{{Attributes: map[string]any{"GlobalID": "{G2}"}}}, DeleteIDs: []any{"{G9}"}},
			Attachments: &SyncAttachmentChanges{Adds: []AttachmentEdit{{GlobalID: "{A2}", ParentGlobalID: "{G2}", Name: "a.jpg", ContentType: "image/jpeg", UploadID: "u1"}}}}},
		ReturnIDsForAdds: true, RollbackOnFailure: Bool(false), TransportType: TransportEmbedded, DataFormat: "json", Async: false})
	if err != nil {
		t.Fatal(err)
	}
	q := form()
	if q["syncLayers"][0] != `[{"id":0,"serverGen":11,"syncDirection":"bidirectional"}]` || q["rollbackOnFailure"][0] != "false" || q["returnIdsForAdds"][0] != "true" {
		t.Errorf("form = %v", q)
	}
	if !strings.Contains(q["edits"][0], `"deleteIds":["{G9}"]`) || !strings.Contains(q["edits"][0], `"uploadId":"u1"`) {
		t.Errorf("edits = %s", q["edits"][0])
	}
	if res.ResponseType != ResponseTypeEdits || res.LayerServerGens[0].ServerGen != 12 || len(res.Edits) != 1 {
		t.Fatalf("result = %+v", res)
	}
	l := res.Edits[0]
	if l.AddResults[0].ObjectID != 5 || l.Attachments == nil || !l.Attachments.AddResults[0].Success || l.Features.DeleteIDs[0] != "{S7}" || l.Features.Adds[0].Geometry.Type() != GeometryPoint {
		t.Errorf("layer result = %+v", l)
	}
	if failed := res.Failed(); len(failed) != 1 || failed[0].Error.Code != 1019 {
		t.Errorf("Failed() = %+v", failed)
	}
}

func TestReplicaBookkeeping(t *testing.T) {
	f := newFakeServer(t)
	f.handle("/svc/FeatureServer/replicas", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"replicaName":"a","replicaID":"{A}"},{"replicaName":"b","replicaID":"{B}"}]`)
	})
	f.fixture(t, "/svc/FeatureServer/replicas/", "replica-info.gis-maine-gov.json")
	var unreg atomic.Value
	f.handle("/svc/FeatureServer/unRegisterReplica", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		unreg.Store(r.PostForm.Get("replicaID"))
		_, _ = io.WriteString(w, `{"success":true}`)
	})
	c := newTestClient(t, "")
	ctx := context.Background()
	svc := f.URL + "/svc/FeatureServer"
	list, err := c.Replicas(ctx, svc)
	if err != nil || len(list) != 2 || list[1].ReplicaID != "{B}" {
		t.Fatalf("Replicas = %+v, %v", list, err)
	}
	info, err := c.ReplicaInfo(ctx, svc, "C359563A-A4E3-46A9-AFAC-6765B3AC37DB")
	if err != nil || info.SyncModel != SyncModelPerLayer {
		t.Fatalf("ReplicaInfo = %+v, %v", info, err)
	}
	if err := c.UnregisterReplica(ctx, svc, "{A}"); err != nil || unreg.Load() != "{A}" {
		t.Fatalf("UnregisterReplica: %v (sent %v)", err, unreg.Load())
	}
}

func TestQueryAllDetectsIgnoredOffset(t *testing.T) {
	f := newFakeServer(t)
	f.handle("/svc/FeatureServer/0/query", func(w http.ResponseWriter, r *http.Request) {
		// always the first page, whatever resultOffset says
		writeJSONBody(w, 200, map[string]any{"objectIdFieldName": "OBJECTID", "exceededTransferLimit": true,
			"features": []map[string]any{{"attributes": map[string]any{"OBJECTID": 1}}, {"attributes": map[string]any{"OBJECTID": 2}}}})
	})
	c := newTestClient(t, "")
	layer := &Layer{ObjectIDField: "OBJECTID", MaxRecordCount: 2, AdvancedQueryCapabilities: &AdvancedQueryCapabilities{SupportsPagination: true}}
	pages := 0
	err := c.QueryAll(context.Background(), f.URL+"/svc/FeatureServer/0", layer, QueryParams{}, func(*FeatureSet) error { pages++; return nil })
	if err == nil || !strings.Contains(err.Error(), "ignored resultOffset") || pages != 1 {
		t.Fatalf("err = %v after %d pages, want the ignored-offset error after 1", err, pages)
	}
}
