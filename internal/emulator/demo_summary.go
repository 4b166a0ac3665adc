package emulator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
)

// demoServices are the default demo services, listed when the service
// catalog does not answer.
var demoServices = []string{
	"Field_Survey/FeatureServer", "Reference_Data/FeatureServer", "Demo_Basemap/MapServer",
	"Dynamic_Layers/MapServer", "Demo_Vector/VectorTileServer",
}

// Summary describes a running emulator reachable at base (e.g.
// "http://127.0.0.1:8090") for people: portal and token URLs, services,
// demo web map item ids and credentials.
func (s *Server) Summary(base string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ArcGIS REST emulator listening on %s\n", base)
	fmt.Fprintf(&b, "  portal:        %s/sharing/rest\n", base)
	fmt.Fprintf(&b, "  token service: %s/sharing/rest/generateToken  (OAuth2: %s/sharing/rest/oauth2/token)\n", base, base)
	fmt.Fprintf(&b, "  server info:   %s/arcgis/rest/info\n", base)
	fmt.Fprintf(&b, "services:\n")
	for _, svc := range s.serviceNames() {
		fmt.Fprintf(&b, "  %s/arcgis/rest/services/%s\n", base, svc)
	}
	fmt.Fprintf(&b, "web maps (item ids):\n")
	for _, id := range []string{DemoWebMapFieldSurveyID, DemoWebMapVectorBasemapID, DemoWebMapDuplicateLayersID, DemoWebMapNoOfflineID} {
		if it, ok := s.GetItem(id); ok {
			fmt.Fprintf(&b, "  %s  %s\n", id, it.Title)
		}
	}
	fmt.Fprintf(&b, "  (+%d generated \"Survey District NN\" maps; search %s/sharing/rest/search?q=type:%%22Web%%20Map%%22&f=json)\n",
		DemoDistrictMaps, base)
	fmt.Fprintf(&b, "credentials:\n")
	if pw, ok := s.opts.Users[DemoUser]; ok {
		fmt.Fprintf(&b, "  user: %s  password: %s\n", DemoUser, pw)
	} else {
		fmt.Fprintf(&b, "  users: %d configured (see Options.Users)\n", len(s.opts.Users))
	}
	fmt.Fprintf(&b, "  OAuth app: client_id %s  client_secret %s\n", DemoClientID, DemoClientSecret)
	fmt.Fprintf(&b, "  token lifetime: %s", s.opts.TokenLifetime)
	if s.opts.Anonymous {
		fmt.Fprintf(&b, "; anonymous access allowed")
	}
	b.WriteString("\n")
	return b.String()
}

// serviceNames asks the emulator's own service catalog for "name/type"
// entries, falling back to the demo services.
func (s *Server) serviceNames() []string {
	q := url.Values{"f": {"json"}, "token": {s.IssueToken(s.DefaultOwner())}}
	req, err := http.NewRequest(http.MethodGet, "http://emulator/arcgis/rest/services?"+q.Encode(), nil)
	if err != nil {
		return demoServices
	}
	rec := httptest.NewRecorder() // the emulator's router answers in memory
	s.router.ServeHTTP(rec, req)
	var cat struct {
		Services []struct{ Name, Type string } `json:"services"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &cat) != nil || len(cat.Services) == 0 {
		return demoServices
	}
	out := make([]string, 0, len(cat.Services))
	for _, svc := range cat.Services {
		out = append(out, svc.Name+"/"+svc.Type)
	}
	return out
}
