package tiles

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/internal/arcgis"
)

// DemoWMTSCapabilities is the path, under the emulator's root, of its open
// WMTS server's capabilities document (the wmtsInfo.url of a WMTS layer).
const DemoWMTSCapabilities = "/wmts/1.0.0/WMTSCapabilities.xml"

// DemoWMTSLayer is the identifier of the open WMTS server's layer;
// DemoWMTSLayerKVP the same tiles as a layer without a ResourceURL (only
// KVP GetTile reaches it, as on servers that offer no RESTful encoding).
const (
	DemoWMTSLayer    = "open_imagery"
	DemoWMTSLayerKVP = "open_imagery_kvp"
)

// WMTS tile matrix sets of the open WMTS server.
const (
	// WMTSMercatorSet is the GoogleMapsCompatible set (levels 0-19, matrix
	// ids "EPSG:3857:<z>" as GeoServer writes them).
	WMTSMercatorSet = "GoogleMapsCompatible"
	// WMTSCRS84Set is WorldCRS84Quad (EPSG:4326, 2×1 tiles at level 0,
	// levels 0-17, corners written latitude first as the EPSG URN orders them).
	WMTSCRS84Set = "WorldCRS84Quad"
)

// wmtsState is the open WMTS server: one layer over two tile matrix sets,
// served RESTfully and by KVP, anonymously, as GeoServer/MapProxy do.
type wmtsState struct {
	sets map[string]*mapService
	ids  []string // set identifiers in document order
}

// registerWMTS adds the open WMTS server: capabilities at
// DemoWMTSCapabilities and at /wmts?SERVICE=WMTS&REQUEST=GetCapabilities,
// RESTful tiles at /wmts/tile/1.0.0/{layer}/{style}/{set}/{matrix}/{row}/{col}.png
// and KVP GetTile at /wmts. A tile outside the matrix or the data bounds
// answers 404 with an OWS exception report (TileOutOfRange).
func (s *Tiles) registerWMTS() {
	merc := WebMercatorTileInfo(256, 19, "PNG")
	crs84 := arcgis.TileInfo{Rows: 256, Cols: 256, DPI: 96, Format: "PNG",
		Origin: arcgis.Point2D{X: -180, Y: 90}, SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
	for z := 0; z <= 17; z++ {
		res := 180.0 / 256 / math.Exp2(float64(z))
		crs84.LODs = append(crs84.LODs, arcgis.LOD{Level: z, Resolution: res, Scale: res * 111319.49079327358 * 96 / 0.0254})
	}
	cache := 1024
	if s.tiles != nil && s.tiles.opts.CacheTiles > 0 {
		cache = s.tiles.opts.CacheTiles
	}
	st := &wmtsState{sets: map[string]*mapService{
		WMTSMercatorSet: newMapService(MapServiceOptions{Name: "wmts-merc", TileInfo: merc}, s.opts.Seed+104729, cache),
		WMTSCRS84Set:    newMapService(MapServiceOptions{Name: "wmts-crs84", TileInfo: crs84}, s.opts.Seed+130363, cache),
	}, ids: []string{WMTSMercatorSet, WMTSCRS84Set}}
	s.wmts = st
	s.router.HandleFunc(DemoWMTSCapabilities, func(w http.ResponseWriter, r *http.Request) {
		st.capabilities(w, r)
	})
	s.router.HandleFunc("/wmts/tile/1.0.0/{layer}/{style}/{set}/{matrix}/{row:[0-9]+}/{col:[0-9]+}.png", func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		st.tile(w, r, v["layer"], v["set"], v["matrix"], v["row"], v["col"], "image/png")
	})
	s.router.HandleFunc("/wmts", func(w http.ResponseWriter, r *http.Request) {
		q := map[string]string{}
		for k, v := range r.URL.Query() {
			q[strings.ToUpper(k)] = v[0]
		}
		if !strings.EqualFold(q["SERVICE"], "WMTS") {
			owsException(w, http.StatusBadRequest, "MissingParameterValue", "service")
			return
		}
		switch strings.ToLower(q["REQUEST"]) {
		case "getcapabilities":
			st.capabilities(w, r)
		case "gettile":
			st.tile(w, r, q["LAYER"], q["TILEMATRIXSET"], q["TILEMATRIX"], q["TILEROW"], q["TILECOL"], q["FORMAT"])
		default:
			owsException(w, http.StatusBadRequest, "OperationNotSupported", "request")
		}
	})
}

// WMTSTileBytes returns the PNG the open WMTS server sends for the tile of
// set at matrix index level, or ok=false when it answers 404.
func (s *Tiles) WMTSTileBytes(set string, level, row, col int) (data []byte, ok bool) {
	if s.wmts == nil {
		return nil, false
	}
	ms := s.wmts.sets[set]
	if ms == nil {
		return nil, false
	}
	return ms.wmtsTile(tileKey{level, row, col})
}

// wmtsTile renders a tile inside the matrix and the data bounds.
func (ms *mapService) wmtsTile(k tileKey) ([]byte, bool) {
	cols, rows := 1<<k.level, 1<<k.level
	if srEPSG(ms.grid.info.SpatialReference) == 4326 {
		cols, rows = 2<<k.level, 1<<k.level
	}
	if k.row >= rows || k.col >= cols || !ms.exists(k) {
		return nil, false
	}
	data, err := ms.render.tile(k)
	return data, err == nil
}

func (st *wmtsState) tile(w http.ResponseWriter, r *http.Request, layer, set, matrix, row, col, format string) {
	ms := st.sets[set]
	if (layer != DemoWMTSLayer && layer != DemoWMTSLayerKVP) || ms == nil {
		owsException(w, http.StatusBadRequest, "InvalidParameterValue", "layer")
		return
	}
	if format != "" && format != "image/png" {
		owsException(w, http.StatusBadRequest, "InvalidParameterValue", "format")
		return
	}
	level, err := strconv.Atoi(strings.TrimPrefix(matrix, "EPSG:3857:"))
	ri, err1 := strconv.Atoi(row)
	ci, err2 := strconv.Atoi(col)
	if err != nil || err1 != nil || err2 != nil || ri < 0 || ci < 0 {
		owsException(w, http.StatusBadRequest, "InvalidParameterValue", "tilematrix")
		return
	}
	data, ok := ms.wmtsTile(tileKey{level, ri, ci})
	if !ok {
		owsException(w, http.StatusNotFound, "TileOutOfRange", "tilerow")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

// owsException writes an OWS 1.1 exception report.
func owsException(w http.ResponseWriter, status int, code, locator string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows/1.1" version="1.1.0"><ows:Exception exceptionCode="%s" locator="%s"/></ows:ExceptionReport>
`, code, locator)
}

// capabilities writes the capabilities document, shaped like GeoServer's
// (GoogleMapsCompatible with EPSG:3857:z matrix ids) and MapProxy's
// (WorldCRS84Quad with an EPSG::4326 URN, corners latitude first).
func (st *wmtsState) capabilities(w http.ResponseWriter, r *http.Request) {
	base := hostURL(r)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>
<Capabilities xmlns="http://www.opengis.net/wmts/1.0" xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.0.0">
  <ows:ServiceIdentification><ows:Title>offlined emulator open WMTS</ows:Title><ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion></ows:ServiceIdentification>
  <ows:OperationsMetadata>
    <ows:Operation name="GetTile"><ows:DCP><ows:HTTP>
      <ows:Get xlink:href="` + base + `/wmts?"><ows:Constraint name="GetEncoding"><ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get>
    </ows:HTTP></ows:DCP></ows:Operation>
  </ows:OperationsMetadata>
  <Contents>
    <Layer>
      <ows:Title>Open imagery (WMTS)</ows:Title>
      <ows:WGS84BoundingBox><ows:LowerCorner>-180 -85.051129</ows:LowerCorner><ows:UpperCorner>180 85.051129</ows:UpperCorner></ows:WGS84BoundingBox>
      <ows:Identifier>` + DemoWMTSLayer + `</ows:Identifier>
      <Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>
      <Format>image/png</Format>
`)
	for _, id := range st.ids {
		b.WriteString("      <TileMatrixSetLink><TileMatrixSet>" + id + "</TileMatrixSet></TileMatrixSetLink>\n")
	}
	b.WriteString(`      <ResourceURL format="image/png" resourceType="tile" template="` + base + `/wmts/tile/1.0.0/` + DemoWMTSLayer + `/{Style}/{TileMatrixSet}/{TileMatrix}/{TileRow}/{TileCol}.png"/>
    </Layer>
    <Layer>
      <ows:Title>Open imagery (WMTS, KVP only)</ows:Title>
      <ows:Identifier>` + DemoWMTSLayerKVP + `</ows:Identifier>
      <Style isDefault="true"><ows:Identifier>default</ows:Identifier></Style>
      <Format>image/png</Format>
`)
	for _, id := range st.ids {
		b.WriteString("      <TileMatrixSetLink><TileMatrixSet>" + id + "</TileMatrixSet></TileMatrixSetLink>\n")
	}
	b.WriteString(`    </Layer>
`)
	for _, id := range st.ids {
		ms := st.sets[id]
		crs, prefix := "urn:ogc:def:crs:EPSG::3857", "EPSG:3857:"
		mpu := 1.0
		if srEPSG(ms.grid.info.SpatialReference) == 4326 {
			crs, prefix, mpu = "urn:ogc:def:crs:EPSG::4326", "", 111319.49079327358
		}
		fmt.Fprintf(&b, "    <TileMatrixSet>\n      <ows:Identifier>%s</ows:Identifier>\n      <ows:SupportedCRS>%s</ows:SupportedCRS>\n", id, crs)
		if id == WMTSMercatorSet {
			b.WriteString("      <WellKnownScaleSet>urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible</WellKnownScaleSet>\n")
		}
		o := ms.grid.info.Origin
		for _, l := range ms.grid.info.LODs {
			cols, rows := 1<<l.Level, 1<<l.Level
			corner := fmt.Sprintf("%s %s", num(o.X), num(o.Y))
			if mpu != 1 {
				cols = 2 << l.Level
				corner = fmt.Sprintf("%s %s", num(o.Y), num(o.X))
			}
			fmt.Fprintf(&b, "      <TileMatrix><ows:Identifier>%s%d</ows:Identifier><ScaleDenominator>%s</ScaleDenominator><TopLeftCorner>%s</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight><MatrixWidth>%d</MatrixWidth><MatrixHeight>%d</MatrixHeight></TileMatrix>\n",
				prefix, l.Level, num(l.Resolution*mpu/0.00028), corner, cols, rows)
		}
		b.WriteString("    </TileMatrixSet>\n")
	}
	b.WriteString("  </Contents>\n</Capabilities>\n")
	w.Header().Set("Content-Type", "application/xml")
	_, _ = w.Write([]byte(b.String()))
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', 17, 64) }
