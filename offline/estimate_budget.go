package offline

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Proposal is the most detailed package that fits a budget: the changes
// to the overrides, in the order they were chosen (attachments of
// read-only feature services first, then the most detailed tile levels,
// then whole tile layers), and the estimate after them.
type Proposal struct {
	// Bytes is the estimated size with the changes; Fits says it is
	// within the budget.
	Bytes int64 `json:"bytes"`
	Fits  bool  `json:"fits"`
	// DropAttachments lists feature services whose attachments are left
	// out (returnAttachments false).
	DropAttachments []Key `json:"dropAttachments,omitempty"`
	// MaxLevels is the most detailed level kept per tile layer.
	MaxLevels map[Key]int `json:"maxLevels,omitempty"`
	// OnlineLayers are tile layers left online entirely.
	OnlineLayers []Key `json:"onlineLayers,omitempty"`
	// Changes describe the changes for people.
	Changes []string `json:"changes"`
}

// OverBudgetError is the refusal of a job whose estimate is over
// Parameters.MaxBytes (without AllowOverBudget).
type OverBudgetError struct {
	Estimate Figure
	MaxBytes int64
	Proposal *Proposal
}

func (e *OverBudgetError) Error() string {
	msg := fmt.Sprintf("the package is estimated at %s (%s–%s), over the budget of %s (maxBytes)",
		HumanBytes(e.Estimate.Bytes), HumanBytes(e.Estimate.Low), HumanBytes(e.Estimate.High), HumanBytes(e.MaxBytes))
	if e.Proposal != nil && len(e.Proposal.Changes) > 0 {
		if e.Proposal.Fits {
			msg += fmt.Sprintf("; to fit (about %s): %s", HumanBytes(e.Proposal.Bytes), strings.Join(e.Proposal.Changes, "; "))
		} else {
			msg += "; even " + strings.Join(e.Proposal.Changes, "; ") + " leaves " + HumanBytes(e.Proposal.Bytes) + ": make the area smaller"
		}
	}
	return msg + " (or allow the job over budget: allowOverBudget)"
}

// HumanBytes formats n as "1.5 MB" (powers of 1000).
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// propose returns the most detailed choice that fits maxBytes (with 10 %
// to spare).
func (pe *PackageEstimate) propose(maxBytes int64) *Proposal {
	pr := &Proposal{MaxLevels: map[Key]int{}, Changes: []string{}}
	total := pe.Bytes.Bytes
	// Aim 10 % under the budget: a new estimate of the changed overrides
	// samples other tiles and counts each store's fixed part once, and
	// the package itself may differ from its estimate by a few percent.
	target := maxBytes - maxBytes/10
	fits := func() bool { return total <= target }
	// 1. Attachments of read-only feature services, largest first.
	var att []*LayerEstimate
	for _, le := range pe.Layers {
		if le.ReadOnly && le.Attachments != nil && le.Attachments.Bytes > 0 {
			att = append(att, le)
		}
	}
	sort.SliceStable(att, func(a, b int) bool { return att[a].Attachments.Bytes > att[b].Attachments.Bytes })
	for _, le := range att {
		if fits() {
			break
		}
		total -= le.Attachments.Bytes
		pr.DropAttachments = append(pr.DropAttachments, le.Key)
		pr.Changes = append(pr.Changes, fmt.Sprintf("leave out the attachments of read-only %s (%s)", le.Title, HumanBytes(le.Attachments.Bytes)))
	}
	// 2. The most detailed tile level, of whichever layer's is largest,
	// until it fits; every layer keeps its least detailed level.
	type tl struct {
		le   *LayerEstimate
		keep int // levels kept: le.Levels[:keep]
		size func(keep int) int64
	}
	var tls []*tl
	for _, le := range pe.Layers {
		if len(le.Levels) == 0 || le.Bytes.Method == EstimateUnknown {
			continue
		}
		le := le
		var raw int64
		for _, l := range le.Levels {
			raw += l.Bytes
		}
		// Level bytes scaled to the store's size (overhead in proportion).
		ratio := 1.0
		if raw > 0 {
			ratio = float64(le.Bytes.Bytes) / float64(raw)
		}
		tls = append(tls, &tl{le: le, keep: len(le.Levels), size: func(keep int) int64 {
			var b int64
			for _, l := range le.Levels[:keep] {
				b += l.Bytes
			}
			return int64(float64(b) * ratio)
		}})
	}
	for !fits() {
		var best *tl
		var gain int64
		for _, t := range tls {
			if t.keep <= 1 {
				continue
			}
			if g := t.size(t.keep) - t.size(t.keep-1); best == nil || g > gain {
				best, gain = t, g
			}
		}
		if best == nil {
			break
		}
		best.keep--
		total -= gain
		pr.MaxLevels[best.le.Key] = best.le.Levels[best.keep-1].Level
	}
	for _, t := range tls {
		if lv, ok := pr.MaxLevels[t.le.Key]; ok {
			pr.Changes = append(pr.Changes, fmt.Sprintf("take %s down to level %d only (dropping levels %d-%d)", t.le.Title, lv,
				t.le.Levels[t.keep].Level, t.le.Levels[len(t.le.Levels)-1].Level))
		}
	}
	// 3. Whole tile layers, largest first.
	sort.SliceStable(tls, func(a, b int) bool { return tls[a].size(tls[a].keep) > tls[b].size(tls[b].keep) })
	for _, t := range tls {
		if fits() {
			break
		}
		total -= t.size(t.keep)
		delete(pr.MaxLevels, t.le.Key)
		pr.OnlineLayers = append(pr.OnlineLayers, t.le.Key)
		pr.Changes = append(pr.Changes, fmt.Sprintf("leave tile layer %s online", t.le.Title))
	}
	if len(pr.MaxLevels) == 0 {
		pr.MaxLevels = nil
	}
	pr.Bytes, pr.Fits = total, fits()
	return pr
}

// Apply changes o as the proposal says.
func (pr *Proposal) Apply(o *Overrides) {
	for _, k := range pr.DropAttachments {
		if g := o.GenerateGeodatabase[k]; g != nil {
			g.ReturnAttachments = false
			if g.AttachmentSyncDirection == AttachmentSyncBidirectional {
				g.AttachmentSyncDirection = AttachmentSyncUpload
			}
		}
	}
	for k, lv := range pr.MaxLevels {
		if p := o.ExportTileCache[k]; p != nil {
			p.LevelIDs = slices.DeleteFunc(p.LevelIDs, func(l int) bool { return l > lv })
		}
		if p := o.ExportVectorTiles[k]; p != nil {
			p.MaxLevel = min(p.MaxLevel, lv)
		}
		if p := o.WebTiles[k]; p != nil {
			p.LevelIDs = slices.DeleteFunc(p.LevelIDs, func(l int) bool { return l > lv })
		}
		if p := o.WMTS[k]; p != nil {
			p.LevelIDs = slices.DeleteFunc(p.LevelIDs, func(l int) bool { return l > lv })
		}
		if p := o.StyleTiles[k]; p != nil {
			p.LevelIDs = slices.DeleteFunc(p.LevelIDs, func(l int) bool { return l > lv })
		}
	}
	for _, k := range pr.OnlineLayers {
		delete(o.ExportTileCache, k)
		delete(o.ExportVectorTiles, k)
		delete(o.WebTiles, k)
		delete(o.WMTS, k)
		delete(o.StyleTiles, k)
		if !slices.Contains(o.OnlineLayers, k) {
			o.OnlineLayers = append(o.OnlineLayers, k)
		}
	}
}
