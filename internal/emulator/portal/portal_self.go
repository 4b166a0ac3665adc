package portal

import (
	"math"
	"net/http"
	"strings"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// handleSharingInfo serves GET /sharing/rest/info (fixture
// sharing-rest-info.arcgis-rest-js.json). No token needed.
func (s *Portal) handleSharingInfo(w http.ResponseWriter, r *http.Request) {
	base := rest.BaseURL(r)
	s.respond(w, r, map[string]any{
		"owningSystemUrl": base,
		"authInfo": map[string]any{
			"tokenServicesUrl":     base + "/sharing/rest/generateToken",
			"isTokenBasedSecurity": true,
		},
	})
}

// maxTokenMinutes is Options.TokenLifetime in whole minutes (at least 1),
// the portal's maxTokenExpirationMinutes.
func (s *Portal) maxTokenMinutes() int {
	return max(1, int(math.Ceil(s.opts.TokenLifetime.Minutes())))
}

// userJSON is the user object of portals/self and community/self, with the
// keys of fixture portals-self.arcrestgo.json.
func (s *Portal) userJSON(user string) map[string]any {
	first, last, _ := strings.Cut(user, ".")
	return map[string]any{
		"username": user, "fullName": user, "firstName": first, "lastName": last,
		"preferredView": nil, "description": "", "email": user + "@example.invalid",
		"userType": "arcgisonly", "idpUsername": nil, "favGroupId": "", "lastLogin": DemoTime.UnixMilli(),
		"mfaEnabled": false, "validateUserProfile": false, "access": "org", "storageUsage": 0,
		"storageQuota": 2199023255552, "orgId": s.portal.orgID, "role": "org_publisher",
		"privileges": []string{
			"portal:user:createItem", "portal:user:shareToGroup", "portal:user:viewOrgItems",
			"features:user:edit", "features:user:fullEdit", "premium:user:featurereport",
		},
		"disabled": false, "tags": []string{}, "culture": "en-us", "region": "US", "units": "metric",
		"thumbnail": nil, "created": DemoTime.UnixMilli(), "modified": DemoTime.UnixMilli(),
		"provider": "arcgis",
	}
}

// handlePortalSelf serves GET /sharing/rest/portals/self in the shape of
// fixtures portals-self.*. Anonymous requests get it without "user".
func (s *Portal) handlePortalSelf(w http.ResponseWriter, r *http.Request) {
	user, present, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	base := rest.BaseURL(r)
	host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	svc := base + "/arcgis/rest/services"
	none := []any{}
	self := map[string]any{
		"access": "private", "allSSL": false, "allowedOrigins": none, "allowedRedirectUris": none,
		"analysisLayersGroupQuery": "", "appInfo": map[string]any{},
		"authorizedCrossOriginDomains": none, "availableCredits": 1000.0,
		"basemapGalleryGroupQuery": `title:"Demo Basemaps" AND owner:` + s.portal.defaultOwner,
		"canListApps":              false, "canListData": false, "canListPreProvisionedItems": false,
		"canProvisionDirectPurchase": false, "canSearchPublic": true, "canShareBingPublic": false,
		"canSharePublic": true, "canSignInArcGIS": !s.opts.EnterpriseLogins, "canSignInIDP": s.opts.EnterpriseLogins,
		"colorSetsGroupQuery": "", "commentsEnabled": false, "contacts": none,
		"created": DemoTime.UnixMilli(), "creditAssignments": "disabled", "culture": "en",
		"currentVersion": "2024.1", "customBaseUrl": host, "databaseQuota": -1, "databaseUsage": -1,
		"defaultBasemap": map[string]any{
			"id": "defaultBasemap", "title": "Demo Basemap",
			"baseMapLayers": []any{map[string]any{
				"id": "Demo_Basemap", "layerType": "ArcGISTiledMapServiceLayer",
				"url": svc + "/Demo_Basemap/MapServer", "visibility": true, "opacity": 1,
			}},
		},
		"defaultExtent": map[string]any{
			"type": "extent", "xmin": -13052769.0, "ymin": 4024962.0, "xmax": -13036071.0, "ymax": 4041100.0,
			"spatialReference": map[string]any{"wkid": 102100},
		},
		"defaultUserCreditAssignment": -1,
		"defaultVectorBasemap": map[string]any{
			"id": "defaultVectorBasemap", "title": "Demo Vector",
			"baseMapLayers": []any{map[string]any{
				"id": "Demo_Vector", "layerType": "VectorTileLayer", "type": "VectorTileLayer",
				"styleUrl":   svc + "/Demo_Vector/VectorTileServer/resources/styles/root.json",
				"visibility": true, "opacity": 1,
			}},
		},
		"description": "offlined ArcGIS REST emulator", "eueiEnabled": false,
		"featuredGroups": none, "featuredGroupsId": "", "featuredItemsGroupQuery": "",
		"galleryTemplatesGroupQuery": "", "hasCategorySchema": false,
		"helpBase": base + "/help/", "helpMap": map[string]any{"v": "1.0", "m": map[string]any{}},
		"helperServices": map[string]any{
			"geometry":  map[string]any{"url": base + "/arcgis/rest/services/Utilities/Geometry/GeometryServer"},
			"printTask": map[string]any{"url": base + "/arcgis/rest/services/Utilities/PrintingTools/GPServer/Export%20Web%20Map%20Task"},
			"geocode":   []any{},
			"packaging": map[string]any{
				"url":            base + "/arcgis/rest/services/System/OfflinePackaging/GPServer",
				"exportTilesMap": []any{},
			},
		},
		"homePageFeaturedContent": "", "homePageFeaturedContentCount": 12,
		"httpPort": 80, "httpsPort": 443, "id": s.portal.orgID, "ipCntryCode": "US",
		"isHubEnabled": false, "isPortal": false, "layerTemplatesGroupQuery": "",
		"livingAtlasGroupQuery":     "",
		"maxTokenExpirationMinutes": s.maxTokenMinutes(),
		"metadataEditable":          false, "metadataFormats": []string{"iso19139-3.2"},
		"mfaAdmins": none, "mfaEnabled": false, "modified": DemoTime.UnixMilli(),
		"name": "offlined demo", "notificationsEnabled": false,
		"portalHostname": host, "portalMode": "multitenant", "portalName": "ArcGIS Online",
		"portalProperties": map[string]any{"links": map[string]any{}}, "portalThumbnail": nil,
		"region": "US", "rotatorPanels": none, "showHomePageDescription": false,
		"staticImagesUrl": base + "/images", "storageQuota": 2199023255552, "storageUsage": 0,
		"stylesGroupQuery": "",
		"subscriptionInfo": map[string]any{
			"id": "1", "type": "Developer", "state": "active", "expDate": 4102444800000, "maxUsers": 10,
			"availableCredits": 1000.0,
		},
		"supportsHostedServices": true, "supportsOAuth": true, "symbolSetsGroupQuery": "",
		"templatesGroupQuery": "", "thumbnail": nil, "units": "metric",
		"updateUserProfileDisabled": false, "urlKey": "", "useStandardizedQuery": true,
		"useVectorBasemaps": false, "vectorBasemapGalleryGroupQuery": "",
	}
	if present && user != "" {
		self["user"] = s.userJSON(user)
	}
	s.respond(w, r, self)
}

// handleCommunitySelf serves GET /sharing/rest/community/self, the signed-in
// user (a token is required).
func (s *Portal) handleCommunitySelf(w http.ResponseWriter, r *http.Request) {
	user, present, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	if !present || user == "" {
		s.writeTokenError(w, codeTokenRequired)
		return
	}
	s.respond(w, r, s.userJSON(user))
}
