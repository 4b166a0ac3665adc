package featureserver

import (
	"net/http"
	"sort"

	"github.com/offlined/offlined/localapi"
)

// The ArcGIS services directory: QGIS's "ArcGIS REST Server" connection and
// ArcGIS clients start from /arcgis/rest/services and list its FeatureServer
// entries. Service names are those the FeatureServer routes accept: the map
// id for a map with one feature service, "<map id>.<service>" otherwise.
// There are no folders.

func (s *Server) routesServicesDirectory() {
	for _, m := range []string{"GET", "POST"} {
		s.api.Handle(m, "/arcgis/rest/services", s.fsServicesDirectory)
	}
}

// directoryService is one entry of the services directory.
type directoryService struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// Title is the package's title (not part of ArcGIS's shape; clients
	// ignore it).
	Title string `json:"title,omitempty"`
}

func (s *Server) fsServicesDirectory(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		maps, err := s.reg.List(r.Context())
		if err != nil {
			return err
		}
		services := []directoryService{}
		for _, mi := range maps {
			if !mi.Complete {
				continue
			}
			if len(mi.Services) == 1 {
				services = append(services, directoryService{Name: mi.ID, Type: "FeatureServer", Title: mi.Title})
				continue
			}
			for _, svc := range mi.Services {
				services = append(services, directoryService{Name: mi.ID + "." + svc, Type: "FeatureServer", Title: mi.Title})
			}
		}
		sort.Slice(services, func(i, j int) bool { return services[i].Name < services[j].Name })
		localapi.WriteJSON(w, http.StatusOK, map[string]any{"currentVersion": 11.1, "folders": []string{}, "services": services})
		return nil
	})(w, r)
}
