package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/atomicfile"
	editsync "github.com/offlined/offlined/sync"
)

// runFeatureService takes one feature service offline: one replica
// (createReplica, dataFormat json, streamed into data/<svc>.gpkg) or a
// read-only snapshot through paged queries. Every server-side effect is
// journaled before the next call, so a restarted job continues where this
// one stopped: a replica is never created twice, a downloaded result is
// never fetched twice.
func (j *Job) runFeatureService(ctx context.Context, id string) error {
	rec := j.jr.step(id)
	g := j.o.GenerateGeodatabase[rec.Key]
	c := j.opt.Client
	svcURL := g.ServiceURL

	var rawSvc json.RawMessage
	if err := c.GetJSON(ctx, svcURL, nil, &rawSvc); err != nil {
		return stepErr(rec.Key, svcURL, "featureService", err)
	}
	layers := map[int]*arcgis.Layer{}
	for _, lid := range g.LayerIDs() {
		l, err := serviceLayer(ctx, c, g, lid)
		if err != nil {
			return stepErr(rec.Key, arcgis.LayerURL(svcURL, lid), "layer", err)
		}
		layers[lid] = l
	}
	if g.Snapshot {
		return j.runSnapshot(ctx, id, g, rawSvc, layers)
	}
	return j.runReplica(ctx, id, g, rawSvc, layers)
}

// serviceLayer fetches layer lid of g's service, declared in g's output
// spatial reference when it has one (the features come in it).
func serviceLayer(ctx context.Context, c *arcgis.Client, g *GenerateGeodatabaseParameters, lid int) (*arcgis.Layer, error) {
	l, err := c.Layer(ctx, arcgis.LayerURL(g.ServiceURL, lid))
	if err != nil || g.OutSpatialReference == nil || l.GeometryType == "" {
		return l, err
	}
	cp := *l
	sr := *g.OutSpatialReference
	cp.SpatialReference = &sr
	return &cp, nil
}

func (j *Job) storePath(rel string) string { return filepath.Join(j.dir, filepath.FromSlash(rel)) }

func (j *Job) runReplica(ctx context.Context, id string, g *GenerateGeodatabaseParameters, rawSvc json.RawMessage, layers map[int]*arcgis.Layer) error {
	c := j.opt.Client
	svcURL := g.ServiceURL
	rec := j.jr.step(id)
	resultFile := j.storePath(rec.Store) + ".replica.json"

	if rec.ReplicaPhase == replicaRequested {
		// The previous run crashed between sending createReplica and saving
		// the answer: the server may hold a replica under our name. Remove it
		// and ask again.
		if refs, err := c.Replicas(ctx, svcURL); err == nil {
			for _, r := range refs {
				if r.ReplicaName == rec.ReplicaName {
					if err := c.UnregisterReplica(ctx, svcURL, r.ReplicaID); err != nil {
						j.log.Warn("unregister orphan replica", "service", svcURL, "replica", r.ReplicaID, "err", err)
					}
				}
			}
		}
		rec.ReplicaPhase = replicaNone
	}
	if rec.ReplicaPhase == replicaNone {
		name := fmt.Sprintf("offlined-%s-%s", j.jr.ID[:8], serviceName(svcURL))
		params, err := ReplicaParams(g, ReplicaRequestOptions{ReplicaName: name})
		if err != nil {
			return stepErr(rec.Key, svcURL, "createReplica", err)
		}
		if err := j.jr.updateStep(id, func(s *stepInfo) {
			s.ReplicaPhase, s.ReplicaName = replicaRequested, name
		}); err != nil {
			return err
		}
		j.hook("replicaRequested")
		j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "createReplica" })
		resp, err := c.CreateReplica(ctx, svcURL, *params)
		if err != nil {
			return stepErr(rec.Key, svcURL, "createReplica", err)
		}
		j.hook("replicaAnswered")
		switch {
		case resp.StatusURL != "":
			err = j.jr.updateStep(id, func(s *stepInfo) {
				s.ReplicaPhase, s.StatusURL = replicaSubmitted, resp.StatusURL
			})
		case resp.ResultURL != "" || resp.Replica != nil:
			if resp.Replica == nil {
				err = j.jr.updateStep(id, func(s *stepInfo) {
					s.ReplicaPhase, s.ResultURL = replicaCreated, resp.ResultURL
				})
				break
			}
			if err = writeFileAtomic(resultFile, resp.Raw); err != nil {
				return err
			}
			err = j.jr.updateStep(id, func(s *stepInfo) {
				s.ReplicaPhase, s.ReplicaID = replicaFetched, resp.Replica.ReplicaID
				s.ReplicaServerGen, s.ServerGens = resp.Replica.ReplicaServerGen, resp.Replica.LayerServerGens
				j.jr.addReplica(svcURL, resp.Replica.ReplicaID)
			})
		}
		if err != nil {
			return err
		}
		j.hook("replicaSubmitted")
	}
	rec = j.jr.step(id)
	if rec.ReplicaPhase == replicaSubmitted {
		j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "waitReplica" })
		st, err := c.WaitReplicaJob(ctx, rec.StatusURL, j.opt.PollInterval, nil)
		if err != nil {
			var je *arcgis.ReplicaJobError
			if errors.As(err, &je) && je.Status != nil && je.Status.ReplicaID != "" {
				j.jr.update(func() { j.jr.addReplica(svcURL, je.Status.ReplicaID) })
			}
			return stepErr(rec.Key, svcURL, "createReplica job", err)
		}
		if err := j.jr.updateStep(id, func(s *stepInfo) {
			s.ReplicaPhase, s.ReplicaID, s.ResultURL = replicaCreated, st.ReplicaID, st.ResultURL
			s.ReplicaServerGen, s.ServerGens = st.ReplicaServerGen, st.LayerServerGens
			j.jr.addReplica(svcURL, st.ReplicaID)
		}); err != nil {
			return err
		}
		j.hook("replicaCreated")
	}
	rec = j.jr.step(id)
	if rec.ReplicaPhase == replicaCreated {
		j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "download" })
		n, err := j.downloadFile(ctx, id, rec.ResultURL, resultFile)
		if err != nil {
			return stepErr(rec.Key, svcURL, "download replica", err)
		}
		if err := j.jr.updateStep(id, func(s *stepInfo) {
			s.ReplicaPhase, s.Bytes = replicaFetched, n
		}); err != nil {
			return err
		}
		j.hook("replicaFetched")
	}
	rec = j.jr.step(id)
	j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "load"; lp.Bytes = rec.Bytes })
	f, err := os.Open(resultFile)
	if err != nil {
		return fmt.Errorf("replica of %s: %w", svcURL, err)
	}
	defer f.Close()
	var loaded *arcgis.Replica
	fetch := j.fetchAttachment
	if g.ReturnAttachments {
		pf := newAttachmentPrefetcher(ctx, c, resultFile, attachmentDir(j.storePath(rec.Store)), 8, 64)
		defer pf.Close()
		fetch = pf.Fetch
	}
	stats, err := j.buildStore(ctx, rec.Store, rawSvc, layers, func(db *geodb.DB) (geodb.LoadStats, error) {
		r, st, err := db.LoadReplica(ctx, f, geodb.LoadOptions{FetchAttachment: fetch})
		if err != nil {
			return st, err
		}
		loaded = r
		rep := &arcgis.Replica{ReplicaName: rec.ReplicaName, ReplicaID: rec.ReplicaID, SyncModel: string(g.SyncModel),
			ReplicaServerGen: rec.ReplicaServerGen, LayerServerGens: rec.ServerGens,
			ReturnAttachments: g.ReturnAttachments, AttachmentsSyncDirection: string(g.AttachmentSyncDirection),
			SyncDataOptions: g.SyncDataOptions, Geometry: g.Extent, SpatialReference: g.OutSpatialReference}
		if r != nil {
			if rep.ReplicaID == "" {
				rep.ReplicaID = r.ReplicaID
			}
			if rep.ReplicaServerGen == 0 {
				rep.ReplicaServerGen = r.ReplicaServerGen
			}
			if len(rep.LayerServerGens) == 0 {
				rep.LayerServerGens = r.LayerServerGens
			}
			rep.TargetType, rep.SyncDirection, rep.CreationDate = r.TargetType, r.SyncDirection, r.CreationDate
		}
		if err := db.SaveReplica(ctx, rep); err != nil {
			return st, err
		}
		if err := db.SetMeta(ctx, MetaServiceURL, svcURL); err != nil {
			return st, err
		}
		return st, nil
	})
	if err != nil {
		return stepErr(rec.Key, svcURL, "load replica", err)
	}
	_ = loaded
	f.Close()
	if err := j.finishService(id, stats); err != nil {
		return err
	}
	os.Remove(resultFile)
	return nil
}

// MetaServiceURL is the geodb meta key holding a GeoPackage's feature
// service URL.
const MetaServiceURL = "offlined_service_url"

// buildStore creates the GeoPackage afresh (a partial file from an
// interrupted run is discarded: loads are not resumable), creates a table
// per layer, runs load and checkpoints the file into one self-contained
// .gpkg.
func (j *Job) buildStore(ctx context.Context, rel string, rawSvc json.RawMessage, layers map[int]*arcgis.Layer, load func(*geodb.DB) (geodb.LoadStats, error)) (geodb.LoadStats, error) {
	path := j.storePath(rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return geodb.LoadStats{}, err
	}
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(path + suffix)
	}
	db, err := geodb.Open(ctx, path, geodb.Options{})
	if err != nil {
		return geodb.LoadStats{}, err
	}
	defer db.Close()
	if err := db.SaveService(ctx, rawSvc); err != nil {
		return geodb.LoadStats{}, err
	}
	for _, lid := range sortedInts(layers) {
		if _, err := db.CreateLayer(ctx, layers[lid], nil); err != nil {
			return geodb.LoadStats{}, fmt.Errorf("create table for layer %d: %w", lid, err)
		}
	}
	st, err := load(db)
	if err != nil {
		return st, err
	}
	if err := db.Checkpoint(ctx, true); err != nil {
		return st, err
	}
	return st, db.Close()
}

func sortedInts[V any](m map[int]V) []int {
	ids := make([]int, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	for a := 1; a < len(ids); a++ {
		for b := a; b > 0 && ids[b] < ids[b-1]; b-- {
			ids[b], ids[b-1] = ids[b-1], ids[b]
		}
	}
	return ids
}

func (j *Job) finishService(id string, st geodb.LoadStats) error {
	var feats int64
	per := map[int]int64{}
	for lid, n := range st.PerLayer {
		per[lid] = n
		feats += n
	}
	if feats == 0 {
		feats = st.Features
	}
	if err := j.jr.updateStep(id, func(s *stepInfo) {
		s.Status, s.Features, s.LayerFeatures = stepDone, feats, per
	}); err != nil {
		return err
	}
	if fi, err := os.Stat(j.storePath(j.jr.step(id).Store)); err == nil {
		j.jr.update(func() { j.jr.Steps[id].Bytes = fi.Size() })
	}
	j.updateProgress(id, func(lp *LayerProgress) { lp.Features = feats; lp.Bytes = j.jr.step(id).Bytes })
	j.hook("serviceDone")
	return nil
}

// fetchAttachment opens an attachment the replica lists by URL.
func (j *Job) fetchAttachment(ctx context.Context, layerID int, a *arcgis.AttachmentInfo) (io.ReadCloser, error) {
	if a.URL == "" {
		return nil, fmt.Errorf("attachment %s has no URL", a.GlobalID)
	}
	return j.opt.Client.Download(ctx, a.URL)
}

// downloadFile streams u into dest (atomically: renamed when whole)
// and returns its size.
func (j *Job) downloadFile(ctx context.Context, id, u, dest string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return 0, err
	}
	rc, err := j.opt.Client.Download(ctx, u)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return atomicfile.WriteFrom(dest, &countingReader{r: rc, fn: func(n int64) {
		j.updateProgress(id, func(lp *LayerProgress) { lp.Bytes = n })
	}}, 0o644)
}

type countingReader struct {
	r    io.Reader
	n    int64
	last int64
	fn   func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n-c.last >= 1<<20 || (err == io.EOF && c.n != c.last) {
		c.last = c.n
		c.fn(c.n)
	}
	return n, err
}

// runSnapshot copies a service without Sync through paged queries (one
// streamed load per layer). An interrupted snapshot starts over.
func (j *Job) runSnapshot(ctx context.Context, id string, g *GenerateGeodatabaseParameters, rawSvc json.RawMessage, layers map[int]*arcgis.Layer) error {
	c := j.opt.Client
	rec := j.jr.step(id)
	j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "query" })
	var total int64
	stats, err := j.buildStore(ctx, rec.Store, rawSvc, layers, func(db *geodb.DB) (geodb.LoadStats, error) {
		all := geodb.LoadStats{PerLayer: map[int]int64{}}
		queries := map[int]arcgis.QueryParams{}
		for _, lid := range g.LayerIDs() {
			qp, ok, err := SnapshotQueryParams(g, lid)
			if err != nil {
				return all, err
			}
			if !ok {
				all.PerLayer[lid] = 0
				continue
			}
			queries[lid] = qp
			layerURL := arcgis.LayerURL(g.ServiceURL, lid)
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- streamQuery(ctx, c, layerURL, layers[lid], qp, pw, func(n int) {
					total += int64(n)
					j.updateProgress(id, func(lp *LayerProgress) { lp.Features = total })
				})
			}()
			st, lerr := db.LoadFeatures(ctx, lid, pr, geodb.LoadOptions{})
			pr.CloseWithError(errLoadEnded)
			qerr := <-done
			if qerr != nil {
				return all, stepErr(rec.Key, layerURL, "query", qerr)
			}
			if lerr != nil {
				return all, lerr
			}
			all.Features += st.Features
			all.PerLayer[lid] = st.Features
		}
		// A refresh asks the same queries (area, where clause).
		if err := editsync.SaveSnapshotQueries(ctx, db, queries); err != nil {
			return all, err
		}
		return all, db.SetMeta(ctx, MetaServiceURL, g.ServiceURL)
	})
	if err != nil {
		return stepErr(rec.Key, g.ServiceURL, "snapshot", err)
	}
	return j.finishService(id, stats)
}

// streamQuery writes every page of a query as one {"features":[…]}
// document to w.
func streamQuery(ctx context.Context, c *arcgis.Client, layerURL string, l *arcgis.Layer, qp arcgis.QueryParams, w *io.PipeWriter, counted func(int)) error {
	first := true
	if _, err := io.WriteString(w, `{"features":[`); err != nil {
		return err
	}
	err := c.QueryAll(ctx, layerURL, l, qp, func(fs *arcgis.FeatureSet) error {
		for i := range fs.Features {
			b, err := json.Marshal(&fs.Features[i])
			if err != nil {
				return err
			}
			if !first {
				if _, err := w.Write([]byte{','}); err != nil {
					return err
				}
			}
			first = false
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		counted(len(fs.Features))
		return nil
	})
	if err == nil {
		_, err = io.WriteString(w, `]}`)
	}
	w.CloseWithError(err)
	if errors.Is(err, errLoadEnded) {
		return nil
	}
	return err
}

// errLoadEnded closes a snapshot query's pipe once the load stopped reading
// (the query's writes then fail with it, which is not a query failure).
var errLoadEnded = errors.New("load ended")
