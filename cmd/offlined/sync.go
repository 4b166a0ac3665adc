package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/offlined/offlined/internal/config"
	editsync "github.com/offlined/offlined/sync"
)

// runSync syncs one offline map, or all of them.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("sync", stderr)
	mapID := fs.String("map", "", "offline map to sync (default: all)")
	statusOnly := fs.Bool("status", false, "print the sync status instead of syncing")
	policy := fs.String("policy", "", "set the conflict policy of the map(s) first and keep it: lastSyncWins, serverWins, deviceWins or fieldMerge")
	ss := registerSettingsFlags(fs)
	dryRun := fs.Bool("dry-run", false, "list what the next sync will send (edits by layer, attachments with sizes) without syncing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dryRun && (*statusOnly || *policy != "" || len(ss.body) > 0) {
		return &config.FieldError{Field: "-dry-run", Reason: "cannot be combined with -status or settings flags"}
	}
	var body any
	if *policy != "" {
		if _, err := editsync.ParsePolicy(*policy); err != nil {
			return &config.FieldError{Field: "-policy", Reason: err.Error()}
		}
		ss.body["conflictPolicy"] = *policy
	}
	if len(ss.body) > 0 {
		if *statusOnly {
			return &config.FieldError{Field: ss.firstFlag(*policy != ""), Reason: "cannot be combined with -status"}
		}
		body = ss.body
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	ids := []string{*mapID}
	if *mapID == "" {
		var res struct {
			Maps []struct {
				ID string `json:"id"`
			} `json:"maps"`
		}
		if err := d.call(ctx, "GET", "/api/v1/maps", nil, &res); err != nil {
			return err
		}
		ids = ids[:0]
		for _, m := range res.Maps {
			ids = append(ids, m.ID)
		}
	}
	if *dryRun {
		return printPending(ctx, d, ids, cf.json, stdout)
	}
	all := map[string]any{}
	failed := 0
	for _, id := range ids {
		var res struct {
			Services any `json:"services"`
		}
		method := "POST"
		if *statusOnly {
			method = "GET"
		}
		if err := d.call(ctx, method, "/api/v1/maps/"+url.PathEscape(id)+"/sync", body, &res); err != nil {
			return syncFlagError(err)
		}
		all[id] = res.Services
		if cf.json {
			continue
		}
		switch svcs := res.Services.(type) {
		case []any: // sync results
			for _, s := range svcs {
				m := s.(map[string]any)
				if e, ok := m["error"]; ok {
					failed++
					fmt.Fprintf(stdout, "%s/%v: failed: %v\n", id, m["service"], e)
					continue
				}
				r, _ := m["report"].(map[string]any)
				fmt.Fprintf(stdout, "%s/%v: uploaded %v, attachments %v, downloaded %v, conflicts %v, rejected %v\n",
					id, m["service"], r["uploaded"], r["attachmentsSent"], r["downloaded"], r["conflicts"], r["failed"])
			}
		case map[string]any: // status
			for svc, s := range svcs {
				m := s.(map[string]any)
				fmt.Fprintf(stdout, "%s/%s: %v, pending edits %v, conflicts %v (pending %v), last success %v\n",
					id, svc, m["state"], m["pendingEdits"], m["conflicts"], m["pendingConflicts"], m["lastSuccess"])
			}
		}
	}
	if cf.json {
		return printJSON(stdout, all)
	}
	if failed > 0 {
		return fmt.Errorf("%d service(s) failed to sync", failed)
	}
	return nil
}
