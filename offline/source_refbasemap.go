package offline

import (
	"context"
	"fmt"
	"os"
)

// referenceBasemapSource replaces the basemap layers by a basemap file
// already on the device (MethodReferenceBasemap: .tpkx, .vtpk, .mbtiles),
// when the parameters name one. Nothing is downloaded; the package's
// basemap layers point at the file (Overrides.ReferenceBasemap).
type referenceBasemapSource struct{ noSteps }

func (referenceBasemapSource) name() string { return "referenceBasemap" }

func (referenceBasemapSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	p := a.params
	if !p.IncludeBasemap || p.ReferenceBasemapDirectory == "" || p.ReferenceBasemapFilename == "" {
		return nil
	}
	for _, e := range a.unclaimed() {
		if !e.Role.IsBasemap() {
			continue
		}
		c := a.caps[e]
		c.SupportsOffline, c.Method = true, MethodReferenceBasemap
		c.Message = fmt.Sprintf("basemap layer %s: replaced by the reference basemap %s on the device", describe(e), p.ReferenceBasemapFilename)
	}
	return nil
}

func (referenceBasemapSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	p := a.params
	for _, e := range a.order {
		if a.caps[e].Method != MethodReferenceBasemap {
			continue
		}
		if ov.ReferenceBasemap == nil {
			ov.ReferenceBasemap = &ReferenceBasemap{Path: p.ReferenceBasemapPath()}
		}
		ov.ReferenceBasemap.Replaces = append(ov.ReferenceBasemap.Replaces, e.Key)
	}
}

func (referenceBasemapSource) check(oc *overrideCheck, o *Overrides) {
	rb := o.ReferenceBasemap
	if rb == nil {
		return
	}
	if st, err := os.Stat(rb.Path); err != nil || !st.Mode().IsRegular() {
		oc.errs = append(oc.errs, &ValidationError{Code: ErrReferenceBasemapMissing, Message: fmt.Sprintf("overrides: reference basemap %s not found on the device", rb.Path)})
	}
	for _, k := range rb.Replaces {
		ok := false
		for _, e := range oc.byKey[k] {
			ok = ok || e.Role.IsBasemap()
		}
		if !ok {
			oc.unknown(k, "referenceBasemap.replaces")
		}
	}
}

// write points the replaced basemap layers at the file.
func (referenceBasemapSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	rb := j.o.ReferenceBasemap
	if rb == nil {
		return nil
	}
	for _, k := range rb.Replaces {
		if local[k] != nil {
			continue
		}
		ml := &ManifestLayer{Key: k, Kind: KindReferenceBasemap, Store: rb.Path}
		if e := j.task.Entry(k); e != nil {
			ml.ServiceURL = e.Service.URL
		}
		local[k] = ml
	}
	return nil
}
