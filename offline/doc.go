// Package offline is offlined's on-demand offline map task: it loads a web
// map (portal item, web map URL or file), examines which layers and tables
// can go offline and how (Capabilities), builds default parameters from the
// author's offline settings (CreateDefaultParameters), expands them into
// per-service and per-layer overrides (CreateOverrides) that map 1:1 onto
// createReplica, layer queries and tile exports, and validates everything
// before any server work (Validate). The job (Task.NewJob) runs the
// overrides into a package directory, journaling every step so that a
// restart resumes it with the inputs it started with.
//
// Each offline method is a source, one file each (source_features.go for
// replicas and snapshots, source_rastertiles.go, source_vectortiles.go,
// source_refbasemap.go, source_embedded.go), listed once in sources(): it
// decides its layers' capabilities, default overrides, checks and estimate,
// runs its job steps and writes its part of the package (a feature store's
// sync configuration included).
//
// Two departures from ArcGIS Runtime: a feature service without Sync but
// with Query goes offline as a read-only snapshot through paged queries
// (MethodSnapshot), and several web map layers on one feature service go
// offline through one replica (GroupFeatureEntries), their definition
// expressions OR-ed.
package offline
