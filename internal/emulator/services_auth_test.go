package emulator_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// The feature and tile services check the portal's tokens: without one
// they answer 499, with one signed in as the demo user they serve.
func TestServiceRoutesRequireToken(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Seed: 3})
	fsBase := em.ServicesURL + "/Field_Survey/FeatureServer"
	basemap := em.ServicesURL + "/Demo_Basemap/MapServer"
	replica := url.Values{"f": {"json"}, "layers": {"0,1,2,3"}, "syncModel": {"perLayer"}, "returnAttachments": {"true"},
		"geometryType": {"esriGeometryEnvelope"}, "inSR": {"4326"},
		"geometry": {`{"xmin":-117.22,"ymin":34.00,"xmax":-117.14,"ymax":34.07,"spatialReference":{"wkid":4326}}`}}
	for _, u := range []string{fsBase, fsBase + "/0", fsBase + "/0/query", fsBase + "/replicas", fsBase + "/0/1/attachments",
		fsBase + "/0/queryAttachments", basemap, basemap + "/tile/0/0/0",
		em.ServicesURL + "/Demo_Vector/VectorTileServer/tile/0/0/0.pbf"} {
		if o := get(t, u, url.Values{"f": {"json"}, "where": {"1=1"}}); errorCode(o) != 499 {
			t.Errorf("%s without token: %v", u, o)
		}
	}
	if o := post(t, fsBase+"/createReplica", replica); errorCode(o) != 499 {
		t.Errorf("createReplica without token: %v", o)
	}

	tok := signIn(t, em)
	if o := get(t, fsBase+"/0/query", withToken(tok, "where", "1=1", "returnCountOnly", "true")); o["count"] != 200.0 {
		t.Errorf("query with token: %v", o)
	}
	replica.Set("token", tok)
	if o := post(t, fsBase+"/createReplica", replica); o["replicaID"] == nil {
		t.Fatalf("createReplica with token: %v", o)
	}
	if reps := em.Replicas("Field_Survey"); len(reps) != 1 || reps[0].ReplicaOwner != emulator.DemoUser {
		t.Errorf("replica owner: %+v", reps)
	}
	resp, err := http.Get(basemap + "/tile/0/0/0?token=" + url.QueryEscape(tok))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("tile with token: %d", resp.StatusCode)
	}
}
