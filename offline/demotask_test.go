package offline_test

import (
	"context"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
)

// demo is the demo web map ready for a job: its task, default parameters
// over offlinetest.DemoArea and their overrides, against a fresh emulator.
type demo struct {
	em   *emulatortest.Server
	c    *arcgis.Client
	task *offline.Task
	p    *offline.Parameters
	o    *offline.Overrides
}

// startEmulator starts an emulator, with its demo tile services when tiles
// is true.
func startEmulator(t *testing.T, tiles bool) *emulatortest.Server {
	t.Helper()
	var opts emulator.Options
	if tiles {
		opts.Tiles = emulator.DemoTileOptions()
		opts.Tiles.WorkDir = t.TempDir()
	}
	return emulatortest.Start(t, opts)
}

// startDemo starts an emulator (see startEmulator) and prepares the demo
// web map's task, parameters at scales 1:150k to 1:maxScale, and
// overrides.
func startDemo(t *testing.T, tiles bool, maxScale float64) *demo {
	t.Helper()
	d := &demo{em: startEmulator(t, tiles)}
	d.c = offlinetest.Client(t, d.em)
	ctx := context.Background()
	var err error
	d.task, err = offline.NewTask(ctx, offline.Source{PortalURL: d.em.PortalURL, ItemID: emulator.DemoWebMapFieldSurveyID}, d.c, d.c)
	if err != nil {
		t.Fatal(err)
	}
	d.p, err = d.task.CreateDefaultParameters(ctx, offlinetest.DemoArea(), 150000, maxScale)
	if err != nil {
		t.Fatal(err)
	}
	d.o, err = d.task.CreateOverrides(ctx, d.p)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
