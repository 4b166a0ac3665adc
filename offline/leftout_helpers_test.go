package offline

// jobErrors returns the errors of steps that failed during the job,
// without the entries left out before it (Call "capabilities", which count
// in hasErrors since issue 12).
func jobErrors(errs map[Key]*LayerError) map[Key]*LayerError {
	out := map[Key]*LayerError{}
	for k, e := range errs {
		if e.Call != "capabilities" {
			out[k] = e
		}
	}
	return out
}

// taken reports whether the package holds entry k (listed, and not of kind
// none).
func taken(p *Package, k Key) bool {
	ml := p.Layer(k)
	return ml != nil && ml.Kind != KindNone
}
