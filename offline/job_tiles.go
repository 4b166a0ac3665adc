package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// runRasterTiles takes a cached MapServer/ImageServer layer offline into
// tiles/<name>.mbtiles: tiles fetched directly for the area and levels
// (resumable, committed in batches), or, when the overrides ask for it
// (ExportTiles or a compression quality), through the service's exportTiles
// job and its .tpkx.
func (j *Job) runRasterTiles(ctx context.Context, id string) error {
	c := j.opt.Client
	rec := j.jr.step(id)
	p := j.o.ExportTileCache[rec.Key]
	ms, err := c.MapService(ctx, p.ServiceURL)
	if err != nil {
		return stepErr(rec.Key, p.ServiceURL, "mapService", err)
	}
	if ms.TileInfo == nil {
		return stepErr(rec.Key, p.ServiceURL, "mapService", errors.New("service has no tile cache"))
	}
	scheme, err := tiles.NewScheme(*ms.TileInfo)
	if err != nil {
		return stepErr(rec.Key, p.ServiceURL, "tileInfo", err)
	}
	aoi, err := tiles.AOIFromGeometry(p.AreaOfInterest)
	if err != nil {
		return stepErr(rec.Key, p.ServiceURL, "area", err)
	}
	covers, err := tiles.Cover(scheme, aoi, p.LevelIDs, tiles.CoverOptions{})
	if err != nil {
		return stepErr(rec.Key, p.ServiceURL, "cover", err)
	}
	planned := j.planTiles(id, covers)
	st, path, err := j.openTileStore(ctx, id, scheme, tiles.FormatFor(ms.TileInfo.Format), planned)
	if err != nil {
		return err
	}
	defer st.Close()
	export, fallback := p.exportMode()
	if export && !ms.ExportTilesAllowed {
		if !fallback {
			return stepErr(rec.Key, p.ServiceURL, "exportTiles", errors.New("the service does not allow exporting tiles (exportTilesAllowed false)"))
		}
		export = false
	}
	if export {
		err := j.exportRasterTiles(ctx, id, p, aoi, path, st)
		switch {
		case err != nil && fallback && ctx.Err() == nil:
			j.log.Warn("exportTiles failed; fetching the tiles directly", "layer", rec.Key, "service", p.ServiceURL, "err", err)
			export = false
		case err != nil:
			return err
		}
	}
	if !export {
		var tm tiles.Tilemapper
		if arcgis.HasCapability(ms.Capabilities, "Tilemap") {
			tm = &clientTilemap{c: c, url: p.ServiceURL}
		}
		if err := j.fetchTiles(ctx, id, st, &clientFetcher{c: c, url: p.ServiceURL}, tm, covers); err != nil {
			return stepErr(rec.Key, p.ServiceURL, "tiles", err)
		}
	}
	return j.finishTiles(ctx, id, st, aoi)
}

// downloadTiles takes a step's covers into its MBTiles through f (no
// tilemap), then finishes the step: the path the web tile and WMTS sources
// share. shown names the layer in errors.
func (j *Job) downloadTiles(ctx context.Context, id, shown string, scheme *tiles.Scheme, format string, f tiles.TileFetcher, covers []tiles.LevelCover, aoi tiles.AOI) error {
	planned := j.planTiles(id, covers)
	st, _, err := j.openTileStore(ctx, id, scheme, format, planned)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := j.fetchTiles(ctx, id, st, f, nil, covers); err != nil {
		return stepErr(j.jr.step(id).Key, shown, "tiles", err)
	}
	return j.finishTiles(ctx, id, st, aoi)
}

// planTiles shows the covers' tile count as the step's plan and returns it.
func (j *Job) planTiles(id string, covers []tiles.LevelCover) int64 {
	var planned int64
	for _, cv := range covers {
		planned += cv.Count()
	}
	j.updateProgress(id, func(lp *LayerProgress) { lp.TilesPlanned = planned; lp.Phase = "tiles" })
	return planned
}

// openTileStore opens (creating its directory) the step's MBTiles, planned
// for planned tiles (its page size), and sets its scheme and format; it
// returns the store and its path.
func (j *Job) openTileStore(ctx context.Context, id string, scheme *tiles.Scheme, format string, planned int64) (*tiles.Store, string, error) {
	path := j.storePath(j.jr.step(id).Store)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, "", err
	}
	st, err := tiles.OpenStoreForBuild(ctx, path)
	if err != nil {
		return nil, "", err
	}
	if err := st.Plan(ctx, planned); err != nil {
		st.Close()
		return nil, "", err
	}
	if err := st.Configure(ctx, scheme, format); err != nil {
		st.Close()
		return nil, "", err
	}
	return st, path, nil
}

// fetchTiles downloads covers into st through f (and tilemap tm, if any),
// showing progress.
func (j *Job) fetchTiles(ctx context.Context, id string, st *tiles.Store, f tiles.TileFetcher, tm tiles.Tilemapper, covers []tiles.LevelCover) error {
	_, err := tiles.Download(ctx, st, f, covers, tiles.DownloadOptions{
		Concurrency: j.opt.TileConcurrency, Tilemap: tm, Logger: j.log,
		Progress: func(pr tiles.Progress) {
			j.updateProgress(id, func(lp *LayerProgress) { lp.Tiles = pr.Skipped + pr.Fetched + pr.Absent; lp.Bytes = pr.Bytes })
			j.hook("tilesBatch")
		},
	})
	return err
}

// exportRasterTiles takes a raster layer's tiles through the service's
// exportTiles job and its .tpkx (resuming a recorded job).
func (j *Job) exportRasterTiles(ctx context.Context, id string, p *ExportTileCacheParameters, aoi tiles.AOI, path string, st *tiles.Store) error {
	c := j.opt.Client
	rec := j.jr.step(id)
	params, err := ExportTilesParams(p)
	if err != nil {
		return stepErr(rec.Key, p.ServiceURL, "exportTiles", err)
	}
	work := path + ".export"
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(work)
	n, err := tiles.ExportAndImport(ctx, &exportClient{c: c, params: params}, p.ServiceURL,
		tiles.ExportRequest{Levels: p.LevelIDs, AOI: aoi}, work, st, tiles.ExportOptions{
			JobURL: rec.ExportJobURL, Poll: j.opt.PollInterval, HTTP: c.HTTPClient(), Tokens: c,
			OnJob: func(u string) { j.jr.update(func() { j.jr.Steps[id].ExportJobURL = u }) },
		})
	if err != nil {
		j.jr.update(func() { j.jr.Steps[id].ExportJobURL = "" }) // a failed job is not resumed
		return stepErr(rec.Key, p.ServiceURL, "exportTiles", err)
	}
	j.updateProgress(id, func(lp *LayerProgress) { lp.Tiles = n })
	return nil
}

func (j *Job) finishTiles(ctx context.Context, id string, st *tiles.Store, aoi tiles.AOI) error {
	rec := j.jr.step(id)
	var bounds *[4]float64
	if b, err := aoi.WGS84Bounds(); err == nil {
		bounds = &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
	}
	title := j.prog[id].Title
	if rec.Kind != KindVectorTiles {
		if err := st.Finalize(ctx, title, bounds); err != nil {
			return err
		}
	}
	n, _, err := st.Count(ctx)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	var size int64
	if fi, err := os.Stat(j.storePath(rec.Store)); err == nil {
		size = fi.Size()
	}
	return j.tilesDone(id, n, size)
}

// tilesDone records a tile step as done with n tiles of size bytes.
func (j *Job) tilesDone(id string, n, size int64) error {
	if err := j.jr.updateStep(id, func(s *stepInfo) {
		s.Status, s.Tiles, s.Bytes = stepDone, n, size
	}); err != nil {
		return err
	}
	j.updateProgress(id, func(lp *LayerProgress) { lp.Tiles, lp.Bytes = n, size })
	j.hook("tilesDone")
	return nil
}

// runVectorTiles takes a vector tile layer offline: tiles into
// tiles/<name>.mbtiles, style, sprites and glyphs under
// tiles/<name>/resources.
func (j *Job) runVectorTiles(ctx context.Context, id string) error {
	c := j.opt.Client
	rec := j.jr.step(id)
	p := j.o.ExportVectorTiles[rec.Key]
	aoi, err := tiles.AOIFromGeometry(p.AreaOfInterest)
	if err != nil {
		return stepErr(rec.Key, p.ServiceURL, "area", err)
	}
	styleURL := ""
	if e := j.task.Entry(rec.Key); e != nil && e.Layer != nil {
		styleURL = e.Layer.StyleURL
	}
	levels := levelsUpTo(p.MaxLevel)
	path := j.storePath(rec.Store)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	transient := 0
	for attempt := 0; ; attempt++ {
		tok, err := j.token(ctx, p.ServiceURL)
		if err != nil {
			return stepErr(rec.Key, p.ServiceURL, "token", err)
		}
		st, err := tiles.OpenStoreForBuild(ctx, path)
		if err != nil {
			return err
		}
		j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "tiles" })
		_, err = tiles.DownloadVectorTileLayer(ctx, tiles.VectorTileLayerJob{
			StyleURL: styleURL, ServiceURL: p.ServiceURL, AOI: aoi, Levels: levels, Store: st,
			ResourceDir: strings.TrimSuffix(path, ".mbtiles") + string(filepath.Separator) + "resources",
			HTTP:        c.HTTPClient(), Tokens: c,
			Download: tiles.DownloadOptions{Concurrency: j.opt.TileConcurrency, Logger: j.log,
				Progress: func(pr tiles.Progress) {
					j.updateProgress(id, func(lp *LayerProgress) {
						lp.Tiles, lp.Bytes, lp.TilesPlanned = pr.Skipped+pr.Fetched+pr.Absent, pr.Bytes, pr.Planned
					})
					j.hook("tilesBatch")
				}},
		})
		if err != nil {
			st.Close()
			if tokenRejected(err) {
				// The token went stale: renew it and continue where the
				// download stopped (the store keeps what was fetched). A
				// credential that cannot be renewed makes the job wait in
				// needsAuth.
				if j.opt.Client.Credentials().For(p.ServiceURL).Invalidate(tok) && attempt < 100 {
					continue
				}
				err = &authError{err}
			} else if isTransient(err) && transient < 3 {
				// The tiles package fetches the style, sprites and glyphs
				// once: a passing server error is retried here (tiles
				// already stored are kept).
				transient++
				select {
				case <-time.After(time.Duration(transient) * 500 * time.Millisecond):
					continue
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return stepErr(rec.Key, p.ServiceURL, "vector tiles", err)
		}
		return j.finishTiles(ctx, id, st, aoi)
	}
}

// levelsUpTo returns the levels 0..maxLevel (none when maxLevel < 0).
func levelsUpTo(maxLevel int) []int {
	levels := make([]int, 0, max(maxLevel+1, 0))
	for l := 0; l <= maxLevel; l++ {
		levels = append(levels, l)
	}
	return levels
}

// token returns the client's current token for a URL ("" for anonymous).
func (j *Job) token(ctx context.Context, u string) (string, error) {
	c := j.opt.Client
	return c.Credentials().For(u).Token(ctx, c)
}

// clientFetcher fetches map tiles through the REST client (which renews
// tokens and retries).
type clientFetcher struct {
	c   *arcgis.Client
	url string
}

func (f *clientFetcher) FetchTile(ctx context.Context, k tiles.TileKey) ([]byte, bool, error) {
	t, err := f.c.MapTile(ctx, f.url, k.Level, k.Row, k.Col)
	if errors.Is(err, arcgis.ErrTileAbsent) {
		return nil, true, nil
	}
	if err != nil {
		if arcgis.IsAuth(err) || arcgis.IsForbidden(err) {
			return nil, false, &tiles.FatalError{Err: err}
		}
		return nil, false, err
	}
	return t.Data, false, nil
}

// clientTilemap reads tilemaps through the REST client.
type clientTilemap struct {
	c   *arcgis.Client
	url string
}

func (t *clientTilemap) Tilemap(ctx context.Context, level, row, col, width, height int) ([]bool, error) {
	tm, err := t.c.Tilemap(ctx, t.url, level, row, col, width, height)
	if err != nil {
		return nil, err
	}
	out := make([]bool, width*height)
	for r := 0; r < height; r++ {
		for cc := 0; cc < width; cc++ {
			out[r*width+cc] = tm.Has(row+r, col+cc)
		}
	}
	return out, nil
}

// exportClient drives exportTiles through the REST client with the exact
// parameters of the overrides (levels, area, compression quality).
type exportClient struct {
	c      *arcgis.Client
	params *arcgis.ExportTilesParams
}

func (e *exportClient) SubmitExportTiles(ctx context.Context, serviceURL string, req tiles.ExportRequest) (string, error) {
	sub, err := e.c.ExportTiles(ctx, serviceURL, *e.params)
	if err != nil {
		return "", err
	}
	return sub.JobURL, nil
}

func (e *exportClient) JobStatus(ctx context.Context, jobURL string) (tiles.JobStatus, error) {
	st, err := e.c.JobStatusOf(ctx, jobURL)
	if err != nil {
		return tiles.JobStatus{}, err
	}
	return tiles.JobStatus{Status: st.JobStatus, Messages: st.ErrorMessages()}, nil
}

func (e *exportClient) JobResultFiles(ctx context.Context, jobURL string) ([]string, error) {
	st, err := e.c.JobStatusOf(ctx, jobURL)
	if err != nil {
		return nil, err
	}
	u, err := e.c.ResolveExportOutput(ctx, jobURL, st, ".tpkx", ".tpk")
	if err != nil {
		return nil, fmt.Errorf("export output: %w", err)
	}
	return []string{u}, nil
}

func (e *exportClient) CancelJob(ctx context.Context, jobURL string) error {
	_, err := e.c.CancelJob(ctx, jobURL)
	return err
}

// authError marks a failure as an authentication problem the client could
// not solve by renewing its token (the job then waits in needsAuth).
type authError struct{ err error }

func (e *authError) Error() string { return e.err.Error() }
func (e *authError) Unwrap() error { return e.err }

// tileErrorCode returns the HTTP status or ArcGIS error code of a failure
// of the tiles package's fetches (tiles.StatusError, tiles.ServiceError),
// or 0.
func tileErrorCode(err error) int {
	var se *tiles.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	var sv *tiles.ServiceError
	if errors.As(err, &sv) {
		return sv.Code
	}
	return 0
}

// isTransient reports a passing failure worth retrying: a server error
// (5xx), throttling (429), or a connection cut mid-answer.
func isTransient(err error) bool {
	code := tileErrorCode(err)
	return code >= 500 && code < 600 || code == 429 ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// tokenRejected reports a failure caused by a rejected token, typed by the
// REST client or the tile fetches (ArcGIS codes 498 invalid token, 499
// token required), including the tiles package's plain HTTP fetches of
// styles, sprites and glyphs.
func tokenRejected(err error) bool {
	code := tileErrorCode(err)
	return isAuthFailure(err) || code == 498 || code == 499
}
