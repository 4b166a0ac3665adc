package sync

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

const svcName = "Field_Survey"

type fixture struct {
	em     *emulatortest.Server
	client *arcgis.Client
	svcURL string
	db     *geodb.DB
	eng    *Engine
	path   string
}

func fastRetry() arcgis.RetryPolicy {
	return arcgis.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Multiplier: 2, Jitter: 0.5, MaxElapsed: 5 * time.Second}
}

func newClient(t testing.TB, em *emulatortest.Server, cred arcgis.Credential) *arcgis.Client {
	t.Helper()
	return portalClient(t, em.PortalURL, cred, arcgis.WithPollInterval(time.Millisecond))
}

// portalClient is a client of the portal with fast retries, signed in with
// cred or, when nil, as the emulator's demo user.
func portalClient(t testing.TB, portal string, cred arcgis.Credential, opts ...arcgis.Option) *arcgis.Client {
	t.Helper()
	if cred == nil {
		cred = &arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}
	}
	c, err := arcgis.New(append([]arcgis.Option{arcgis.WithPortal(portal), arcgis.WithCredential(cred), arcgis.WithRetryPolicy(fastRetry())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// openChild opens the store a child test process syncs and a client of
// its portal (the demo user), as the parent passed them in the environment.
func openChild(t testing.TB, portal, path string) (*geodb.DB, *arcgis.Client) {
	t.Helper()
	db, err := geodb.Open(context.Background(), path, geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, portalClient(t, portal, nil)
}

type fixtureOpts struct {
	emu       emulator.Options
	syncModel string
	cfg       func(*Config)
	hooks     Hooks
	path      string
}

// newFixture starts an emulator, creates a replica of Field_Survey with
// createReplica (JSON, attachments both ways) and loads it into a new
// GeoPackage with geodb's loader.
func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	if o.emu.FeatureServices == nil {
		o.emu.FeatureServices = []emulator.FeatureServiceOptions{smallDemo(), emulator.ReferenceDataService()}
	}
	em := emulatortest.Start(t, o.emu)
	f := &fixture{em: em, svcURL: em.ServicesURL + "/" + svcName + "/FeatureServer"}
	f.client = newClient(t, em, nil)
	if o.path == "" {
		o.path = filepath.Join(t.TempDir(), "Field_Survey.gpkg")
	}
	f.path = o.path
	if o.syncModel == "" {
		o.syncModel = arcgis.SyncModelPerLayer
	}
	f.db = createReplicaGPKG(t, f.client, f.svcURL, o.path, o.syncModel, o.cfg)
	f.eng = New(f.db, f.client, Options{Hooks: o.hooks})
	return f
}

// serviceLayers reads the layers and tables of a feature service.
func serviceLayers(t testing.TB, c *arcgis.Client, svcURL string) []*arcgis.Layer {
	t.Helper()
	ctx := context.Background()
	svc, err := c.FeatureService(ctx, svcURL)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := c.Layers(ctx, svcURL, svc)
	if err != nil {
		t.Fatal(err)
	}
	return layers
}

// layerStore opens a new GeoPackage at path (closed at the end of the
// test) with empty tables for layers.
func layerStore(t testing.TB, path string, layers []*arcgis.Layer) *geodb.DB {
	t.Helper()
	ctx := context.Background()
	db, err := geodb.Open(ctx, path, geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, l := range layers {
		if _, err := db.CreateLayer(ctx, l, nil); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// onceAt returns hooks that run do the first time the engine reaches step.
func onceAt(step Step, do func(context.Context) error) Hooks {
	done := false
	return Hooks{At: func(ctx context.Context, s Step) error {
		if s != step || done {
			return nil
		}
		done = true
		return do(ctx)
	}}
}

// crashAt returns hooks that stop the first sync to reach step with errCrash.
func crashAt(step Step) Hooks {
	return onceAt(step, func(context.Context) error { return errCrash })
}

func createReplicaGPKG(t testing.TB, c *arcgis.Client, svcURL, path, syncModel string, mod func(*Config)) *geodb.DB {
	t.Helper()
	ctx := context.Background()
	layers := serviceLayers(t, c, svcURL)
	var ids []int
	for _, l := range layers {
		ids = append(ids, l.ID)
	}
	b := emulator.DemoBounds()
	resp, err := c.CreateReplica(ctx, svcURL, arcgis.CreateReplicaParams{
		Layers: ids, GeometryText: fmtBounds(b), GeometryType: arcgis.GeometryEnvelope, InSR: 4326,
		ReplicaSR: 3857, SyncModel: syncModel, DataFormat: "json", TransportType: arcgis.TransportEmbedded,
		ReturnAttachments: arcgis.Bool(true), AttachmentsSyncDirection: "bidirectional", SyncDirection: arcgis.SyncBidirectional,
	})
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader
	switch {
	case resp.ResultURL != "":
		rc, err := c.Download(ctx, resp.ResultURL)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		body = rc
	default:
		body = bytes.NewReader(resp.Raw)
	}
	db := layerStore(t, path, layers)
	rep, _, err := db.LoadReplica(ctx, body, geodb.LoadOptions{FetchAttachment: func(ctx context.Context, _ int, a *arcgis.AttachmentInfo) (io.ReadCloser, error) {
		return c.Download(ctx, a.URL)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveReplica(ctx, rep); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ServiceURL: svcURL, Mode: ModeReplica, ReplicaID: rep.ReplicaID, SyncModel: syncModel, AttachmentsSyncDirection: "bidirectional"}
	if mod != nil {
		mod(&cfg)
	}
	if err := SaveConfig(ctx, db, cfg); err != nil {
		t.Fatal(err)
	}
	return db
}

func fmtBounds(b orb.Bound) string {
	return fmt.Sprintf("%f,%f,%f,%f", b.Min[0], b.Min[1], b.Max[0], b.Max[1])
}

// smallDemo is the demo Field_Survey service with fewer features (fixtures
// load faster under -race).
func smallDemo() emulator.FeatureServiceOptions {
	svc := emulator.DemoFeatureService()
	for i, n := range []int{40, 12, 8, 20} {
		if i < len(svc.Layers) {
			svc.Layers[i].Count = n
		}
	}
	return svc
}
