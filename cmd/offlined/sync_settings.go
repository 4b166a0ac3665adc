package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	editsync "github.com/offlined/offlined/sync"
)

// settingsFlags collects offlined sync's settings flags into the body of
// POST /maps/{map}/sync.
type settingsFlags struct {
	body map[string]any
	set  []string // flags given, in order
}

func registerSettingsFlags(fs *flag.FlagSet) *settingsFlags {
	s := &settingsFlags{body: map[string]any{}}
	fs.Func("direction", "set the sync direction of the map(s) first and keep it: bidirectional, uploadOnly or downloadOnly", func(v string) error {
		if _, err := editsync.ParseDirection(v); err != nil {
			return err
		}
		s.body["syncDirection"] = v
		s.set = append(s.set, "-direction")
		return nil
	})
	fs.Func("layer-direction", "set one layer's sync direction first and keep it: SERVICE.LAYERID=bidirectional|uploadOnly|downloadOnly|default (repeatable; layer ids as offlined layers shows them)", func(v string) error {
		k, d, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return errors.New("want SERVICE.LAYERID=DIRECTION")
		}
		if d != "default" {
			if _, err := editsync.ParseDirection(d); err != nil {
				return err
			}
		}
		m, _ := s.body["layerDirections"].(map[string]string)
		if m == nil {
			m = map[string]string{}
			s.body["layerDirections"] = m
		}
		m[k] = d
		s.set = append(s.set, "-layer-direction")
		return nil
	})
	fs.Func("rollback-on-failure", "set rollbackOnFailure first and keep it: true (the server applies all of a sync's edits or none) or false (good edits land, rejected ones are reported and kept)", func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("want true or false")
		}
		s.body["rollbackOnFailure"] = b
		s.set = append(s.set, "-rollback-on-failure")
		return nil
	})
	return s
}

// firstFlag names the first settings flag given (-policy when policy).
func (s *settingsFlags) firstFlag(policy bool) string {
	if policy {
		return "-policy"
	}
	if len(s.set) > 0 {
		return s.set[0]
	}
	return "-policy"
}

// settingsFlagNames maps API fields of the sync body to offlined sync's flags.
func settingsFlagNames() map[string]string {
	return map[string]string{"map": "-map", "conflictPolicy": "-policy", "syncDirection": "-direction", "rollbackOnFailure": "-rollback-on-failure"}
}

// syncFlagError is flagError for the sync body, with layerDirections.* fields
// named by -layer-direction.
func syncFlagError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) && strings.HasPrefix(ae.Field, "layerDirections") {
		return fmt.Errorf("-layer-direction %s: %s", strings.TrimPrefix(strings.TrimPrefix(ae.Field, "layerDirections"), "."), ae.Message)
	}
	return flagError(err, settingsFlagNames())
}

// printPending prints GET /maps/{map}/sync/pending of each map.
func printPending(ctx context.Context, d *daemonClient, ids []string, asJSON bool, w io.Writer) error {
	all := map[string]any{}
	for _, id := range ids {
		var res struct {
			Services map[string]*editsync.Preview `json:"services"`
		}
		if err := d.call(ctx, "GET", "/api/v1/maps/"+url.PathEscape(id)+"/sync/pending", nil, &res); err != nil {
			return flagError(err, map[string]string{"map": "-map"})
		}
		all[id] = res.Services
		if asJSON {
			continue
		}
		for _, svc := range slices.Sorted(maps.Keys(res.Services)) {
			p := res.Services[svc]
			note := ""
			if p.Interrupted {
				note = " (finishing an interrupted sync first)"
			}
			fmt.Fprintf(w, "%s/%s: %d edit(s), %d attachment(s) (%d bytes), direction %s, %d kept on the device%s\n",
				id, svc, p.Edits, len(p.Attachments), p.AttachmentBytes, p.SyncDirection, p.NotSent, note)
			for _, l := range p.Layers {
				fmt.Fprintf(w, "  layer %d %s: %d add(s) %v, %d update(s) %v, %d delete(s) %v\n", l.Layer, l.Name,
					len(l.Adds), l.Adds, len(l.Updates), l.Updates, len(l.Deletes), l.Deletes)
			}
			for _, a := range p.Attachments {
				fmt.Fprintf(w, "  attachment %s layer %d %s %q %d bytes\n", a.Op, a.Layer, a.GlobalID, a.Name, a.Size)
			}
		}
	}
	if asJSON {
		return printJSON(w, all)
	}
	return nil
}
