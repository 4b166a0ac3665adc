// Package arcgis is offlined's client for the ArcGIS REST API (ArcGIS Online
// and ArcGIS Enterprise portals, FeatureServer, MapServer, ImageServer and
// VectorTileServer) and the home of the wire types those services speak.
//
// The wire types in types.go mirror the JSON documents ArcGIS returns; other
// packages (geodb, tiles, offline, sync, the emulator) share them so that one
// definition of a layer, a field, a geometry or a replica exists in the tree.
package arcgis
