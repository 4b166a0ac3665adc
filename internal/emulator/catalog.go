package emulator

import "net/http"

// catalogService is one entry of the services directory.
type catalogService struct {
	Name string `json:"name"`
	Type string `json:"type"`
	URL  string `json:"url"`
}

// routeCatalog serves the services directory GET /arcgis/rest/services?f=json
// listing every feature, map and vector tile service.
func (s *Server) routeCatalog() {
	h := func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.Portal.Authorize(w, r); !ok {
			return
		}
		base := "http://" + r.Host + "/arcgis/rest/services/"
		var out []catalogService
		if s.FeatureServer != nil {
			for _, name := range s.FeatureServer.ServiceNames() {
				out = append(out, catalogService{Name: name, Type: "FeatureServer", URL: base + name + "/FeatureServer"})
			}
		}
		if s.Tiles != nil {
			for _, svc := range s.Tiles.Catalog() {
				out = append(out, catalogService{Name: svc[0], Type: svc[1], URL: base + svc[0] + "/" + svc[1]})
			}
		}
		if out == nil {
			out = []catalogService{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"currentVersion": 11.3, "folders": []string{}, "services": out})
	}
	s.router.HandleFunc("/arcgis/rest/services", h)
	s.router.HandleFunc("/arcgis/rest/services/", h)
}
