package offline

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteEstimateTable prints pe for people: one row per step (count, size,
// band, how it was obtained), the total, the time range and, over budget,
// the proposal; every line starts with indent.
func WriteEstimateTable(w io.Writer, pe *PackageEstimate, indent string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%sLAYER\tKIND\tCOUNT\tSIZE\tRANGE\tHOW\tNOTE\n", indent)
	for _, le := range pe.Layers {
		count := ""
		switch {
		case le.Tiles > 0:
			count = fmt.Sprintf("%d tiles", le.Tiles)
		case le.Kind == KindReplica || le.Kind == KindSnapshot:
			count = fmt.Sprintf("%d features", le.Features)
		}
		size, rng := "?", ""
		if le.Bytes.Method != EstimateUnknown {
			size = HumanBytes(le.Bytes.Bytes)
			rng = HumanBytes(le.Bytes.Low) + "–" + HumanBytes(le.Bytes.High)
		}
		how := string(le.Data.Method)
		if le.Attachments != nil && le.Attachments.Bytes > 0 {
			how += fmt.Sprintf(" (+%s attachments, %s)", HumanBytes(le.Attachments.Bytes), le.Attachments.Method)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\n", indent, le.Title, le.Kind, count, size, rng, how, le.Note)
	}
	fmt.Fprintf(tw, "%spackage\t\t\t%s\t%s–%s\t\t\n", indent, HumanBytes(pe.Bytes.Bytes), HumanBytes(pe.Bytes.Low), HumanBytes(pe.Bytes.High))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%sexpected download time %s–%s\n", indent, roundDuration(pe.Time.Low), roundDuration(pe.Time.High))
	if pe.OverBudget && pe.Proposal != nil {
		fmt.Fprintf(w, "%sover the budget of %s; ", indent, HumanBytes(pe.MaxBytes))
		switch {
		case pe.Proposal.Fits:
			fmt.Fprintf(w, "to fit (about %s): %s\n", HumanBytes(pe.Proposal.Bytes), strings.Join(pe.Proposal.Changes, "; "))
		default:
			fmt.Fprintf(w, "nothing offlined can leave out fits it: make the area smaller\n")
		}
	}
	for _, lw := range pe.Warnings {
		fmt.Fprintf(w, "%swarning (%s): %s\n", indent, lw.Code, lw.Message)
	}
	return nil
}

func roundDuration(d JSONDuration) time.Duration {
	t := time.Duration(d)
	switch {
	case t >= time.Minute:
		return t.Round(time.Second)
	case t >= time.Second:
		return t.Round(100 * time.Millisecond)
	}
	return t.Round(time.Millisecond)
}
