package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// anonPost posts form to u without a token and returns the decoded body.
func anonPost(t *testing.T, u string, form url.Values) map[string]any {
	t.Helper()
	form.Set("f", "json")
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v: %s", u, err, b)
	}
	return out
}

func errCode(m map[string]any) int {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(float64)
	return int(c)
}

// A public service with Sync lets anonymous requests create and
// synchronize a replica; other services still want a token, and a service
// closed while running answers 499 from then on.
func TestPublicServiceAnonymousReplica(t *testing.T) {
	em := New(Options{PublicServices: []string{"Field_Survey"}})
	defer em.Close()
	hs := httptest.NewServer(em)
	defer hs.Close()
	fs := hs.URL + "/arcgis/rest/services/Field_Survey/FeatureServer"
	rep := anonPost(t, fs+"/createReplica", url.Values{"layers": {"0"}, "syncModel": {"perReplica"}, "replicaName": {"anon"},
		"transportType": {"esriTransportTypeEmbedded"}, "dataFormat": {"json"},
		"geometry": {`{"xmin":-180,"ymin":-90,"xmax":180,"ymax":90}`}, "geometryType": {"esriGeometryEnvelope"}, "inSR": {"4326"}})
	id, _ := rep["replicaID"].(string)
	if errCode(rep) != 0 || id == "" {
		t.Fatalf("anonymous createReplica on a public service: %v", rep)
	}
	syn := anonPost(t, fs+"/synchronizeReplica", url.Values{"replicaID": {id}, "syncDirection": {"download"},
		"transportType": {"esriTransportTypeEmbedded"}, "replicaServerGen": {"0"}, "syncLayers": {`[{"id":0,"syncDirection":"download"}]`}})
	if errCode(syn) != 0 {
		t.Fatalf("anonymous synchronizeReplica on a public service: %v", syn)
	}
	if got := errCode(anonPost(t, hs.URL+"/arcgis/rest/services/Reference_Data/FeatureServer/0/query", url.Values{"where": {"1=1"}})); got != 499 {
		t.Fatalf("anonymous query of a service that is not public: error code %d, want 499", got)
	}
	em.SetServicePublic("Field_Survey", false)
	if em.ServicePublic("Field_Survey") {
		t.Fatal("ServicePublic after closing: true")
	}
	got := anonPost(t, fs+"/0/query", url.Values{"where": {"1=1"}})
	if errCode(got) != 499 || !strings.Contains(got["error"].(map[string]any)["message"].(string), "Token") {
		t.Fatalf("anonymous query after the service was closed: %v, want 499", got)
	}
}
