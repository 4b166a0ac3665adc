package offline

import (
	"context"
	"fmt"
	"strings"
)

// source is one way of taking layers offline (a replica or snapshot of a
// feature service, raster tiles, vector tiles, a reference basemap, inline
// features …). Everything offlined knows about a kind of layer lives in the
// source's own file: which web map entries it takes and why not
// (capabilities), the default overrides, the checks of edited overrides,
// the estimate before the job, the job steps (resumable from the journal)
// and what the steps leave in the package. The local API serves a package
// layer by its manifest kind and store, so a source that writes a new kind
// of store also needs a route there.
//
// Sources are listed once, in sources(); adding a layer type is one file
// implementing source plus its tests, with a field in Overrides for its
// per-layer settings (the overrides are a public JSON document, so each
// source's entries stay typed). Embed noSteps for a source that only
// decides capabilities (its layers need no download). A source that also
// implements estimator (estimate.go) gives the size of its steps before
// the job; without it they are estimated as unknown.
type source interface {
	// name is the source's registry name and the prefix of its journal
	// step ids ("gdb:<key>"): it must never change once released, or
	// interrupted jobs could not resume.
	name() string
	// analyze decides the capability of every entry of a.order the source
	// takes (see analysis.claimed: an entry decided by an earlier source is
	// not the source's to decide). It runs in registry order.
	analyze(ctx context.Context, t *Task, a *analysis) error
	// defaults adds to ov the default overrides of the entries analyze
	// accepted (CreateOverrides).
	defaults(a *analysis, aoi *AOI, ov *Overrides)
	// check reports the source's overrides that name nothing of its kind in
	// the map, or hold values the server would reject (Validate).
	check(oc *overrideCheck, o *Overrides)
	// limits is the estimate hook run before the job (TileChecks): counts
	// over a server's or the source's limits, as *ValidationError.
	limits(ctx context.Context, svc Services, t *Task, o *Overrides) []error
	// steps lists the job steps the overrides ask of the source, in a
	// stable order; used reserves unique store names.
	steps(o *Overrides, used map[string]bool) []stepPlan
	// run runs one of the source's steps to its end. It must resume from
	// the step's journal record (whatever a killed run left) and record
	// every server-side effect in the journal before the next call.
	run(ctx context.Context, j *Job, id string) error
	// partial lists the files a failed step may leave beside its store
	// (removed with it).
	partial(storePath string) []string
	// errorKeys returns the layer and table keys a failed step covers. It
	// runs under the journal's lock: it must not read the journal.
	errorKeys(j *Job, s stepInfo) []Key
	// write adds the package layers of the source's steps to local, by key,
	// and writes what their stores need once the package is final (such as
	// a feature store's sync configuration). It runs before map.json and
	// package.json are written; failed steps get their error afterwards.
	write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error
}

// sources returns every source, in the order analyze consults them.
func sources() []source {
	return []source{
		featureSource{},
		referenceBasemapSource{},
		embeddedSource{},
		rasterTilesSource{},
		styleSource{},
		vectorTilesSource{},
		webTilesSource{},
		wmtsSource{},
		ogcFeaturesSource{},
		geoJSONSource{},
	}
}

// sourceOfStep returns the source that owns a journal step id.
func sourceOfStep(id string) (source, error) {
	name, _, ok := strings.Cut(id, ":")
	if ok {
		for _, s := range sources() {
			if s.name() == name {
				return s, nil
			}
		}
	}
	return nil, fmt.Errorf("job step %q: no such source", id)
}

// stepID is the journal id of a source's step for key k.
func stepID(s source, k Key) string { return s.name() + ":" + string(k) }

// stepPlan is one job step a source asks for.
type stepPlan struct {
	id    string
	kind  string // the Kind of the package layers it writes
	store string // relative to the package directory
	key   Key
	url   string
	// entryTitle: show the web map entry's title in progress (tile
	// layers); else the service name (feature services).
	entryTitle bool
}

// uniqueStore returns dir/base+ext, with a numeric suffix when used holds
// the name already.
func uniqueStore(used map[string]bool, dir, base, ext string) string {
	name := base
	for i := 2; used[dir+"/"+name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	used[dir+"/"+name] = true
	return dir + "/" + name + ext
}

// oneLayerSteps is embedded by sources each of whose steps takes one layer
// (its errors are that layer's) and leaves no partial files beside its
// store (a source that does overrides partial).
type oneLayerSteps struct{}

func (oneLayerSteps) partial(string) []string            { return nil }
func (oneLayerSteps) errorKeys(_ *Job, s stepInfo) []Key { return []Key{s.Key} }

// noSteps is embedded by sources whose layers need no download: they only
// decide capabilities (and maybe default overrides).
type noSteps struct{}

func (noSteps) defaults(*analysis, *AOI, *Overrides)                        {}
func (noSteps) check(*overrideCheck, *Overrides)                            {}
func (noSteps) limits(context.Context, Services, *Task, *Overrides) []error { return nil }
func (noSteps) steps(*Overrides, map[string]bool) []stepPlan                { return nil }
func (noSteps) partial(string) []string                                     { return nil }
func (noSteps) errorKeys(*Job, stepInfo) []Key                              { return nil }
func (noSteps) write(context.Context, *Job, map[Key]*ManifestLayer) error   { return nil }
func (noSteps) run(context.Context, *Job, string) error                     { return errNoSteps }

var errNoSteps = fmt.Errorf("this source has no job steps")

// addDefaults adds to *into the parameters mk makes for each entry that
// goes offline by method m and has none yet (mk returning nil skips the
// entry); *into is made when the first one is added.
func addDefaults[P any](a *analysis, m Method, into *map[Key]*P, mk func(*Entry) *P) {
	for _, e := range a.taking(m) {
		if _, ok := (*into)[e.Key]; ok {
			continue
		}
		p := mk(e)
		if p == nil {
			continue
		}
		if *into == nil {
			*into = map[Key]*P{}
		}
		(*into)[e.Key] = p
	}
}

// layerSteps plans one step of kind per layer of m, by key: its store is
// dir/base+ext (made unique by used) with the base and service URL that
// name returns.
func layerSteps[P any](s source, kind string, m map[Key]*P, used map[string]bool, dir, ext string, name func(Key, *P) (base, url string)) []stepPlan {
	var out []stepPlan
	for _, k := range sortedKeys(m) {
		base, u := name(k, m[k])
		out = append(out, stepPlan{id: stepID(s, k), kind: kind, key: k, url: u, entryTitle: true,
			store: uniqueStore(used, dir, base, ext)})
	}
	return out
}

// layerLimits runs check on the parameters of each layer of m, by key
// (none: skipped), and collects the errors it returns; it stops when ctx
// ends.
func layerLimits[P any](ctx context.Context, m map[Key]*P, check func(Key, *P) error) []error {
	var errs []error
	for _, k := range sortedKeys(m) {
		if ctx.Err() != nil {
			return errs
		}
		if p := m[k]; p != nil {
			if err := check(k, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

// analyzeType decides the unclaimed entries of layerType: try fills in
// what the capability shows and returns why the entry cannot go offline
// (a reason and an error the message names, noun first), or nil when it
// goes offline by m. A failure once ctx ends stops the analysis.
func analyzeType(ctx context.Context, a *analysis, layerType string, m Method, noun string, try func(*Entry, *Capability) (Reason, error)) error {
	for _, e := range a.unclaimed() {
		if e.LayerType != layerType {
			continue
		}
		c := a.caps[e]
		if r, err := try(e, c); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.Reason, c.Message = r, fmt.Sprintf("%s %s: %v", noun, describe(e), err)
			continue
		}
		c.SupportsOffline, c.Method = true, m
	}
	return nil
}

// stepsOf returns the journal records of s's steps, in job order.
func (j *Job) stepsOf(s source) []stepInfo {
	var out []stepInfo
	for _, id := range j.order {
		if strings.HasPrefix(id, s.name()+":") {
			out = append(out, j.jr.step(id))
		}
	}
	return out
}

// stepLayer returns the journal record of the one-layer step id, the
// layer's parameters in m and its web map entry, or a step error (call
// field; the URL shown(entry) when shown is given) when either is missing.
func stepLayer[P any](j *Job, id string, m map[Key]*P, field, noun string, shown func(*Entry) string) (stepInfo, *P, *Entry, error) {
	rec := j.jr.step(id)
	p, e := m[rec.Key], j.task.Entry(rec.Key)
	if p == nil || e == nil {
		u := ""
		if shown != nil {
			u = shown(e)
		}
		return rec, nil, nil, stepErr(rec.Key, u, field, fmt.Errorf("no %s %s in the web map", noun, rec.Key))
	}
	return rec, p, e, nil
}
