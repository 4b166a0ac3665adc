package offline

// finishedPackage reports whether the job's directory already holds this
// job's finished package (same source and area of interest): what a kill
// after the job wrote its manifest and removed its journal leaves. Running
// the job again then has nothing left to do.
func (j *Job) finishedPackage() bool {
	m, err := ReadManifest(j.dir)
	if err != nil || m.Parameters == nil {
		return false
	}
	return m.Source == j.task.Source && sameGeometry(m.Parameters.AreaOfInterest, j.p.AreaOfInterest)
}
