// Package synctest holds test helpers shared by the sync package's tests
// and the reliability campaign.
package synctest

import (
	"bytes"
	"context"
	"fmt"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// EditLoop is the body of a child process that a kill -9 test kills while
// it syncs. Round after round it adds `adds` inspections to layer 0
// (InspectionID "k<iter>-<round>-<k>"), the first of them with a photo
// attachment when photos is set; every third round it deletes the previous
// round's first add; it updates the Notes of one of own (features with a
// GlobalID attribute, taken in turn); then it calls sync. It returns only
// when an edit fails.
func EditLoop(ctx context.Context, db *geodb.DB, iter string, adds int, photos bool, own []arcgis.Feature, sync func(context.Context)) error {
	var prev string
	for i := 0; ; i++ {
		for k := range adds {
			x, y := -13050000.0, 4030000+float64(i)
			r, err := db.Add(ctx, 0, arcgis.Feature{Attributes: map[string]any{"InspectionID": fmt.Sprintf("k%s-%d-%d", iter, i, k)}, Geometry: &arcgis.Geometry{X: &x, Y: &y}})
			if err != nil {
				return fmt.Errorf("add: %w", err)
			}
			if k > 0 {
				continue
			}
			if photos {
				photo := []byte(fmt.Sprintf("photo of k%s-%d", iter, i))
				if _, err := db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: r.GlobalID, Name: fmt.Sprintf("k%s-%d.jpg", iter, i), ContentType: "image/jpeg"}, bytes.NewReader(photo)); err != nil {
					return fmt.Errorf("put attachment: %w", err)
				}
			}
			if prev != "" && i%3 == 0 {
				if err := db.Delete(ctx, 0, prev); err != nil {
					return fmt.Errorf("delete: %w", err)
				}
			}
			prev = r.GlobalID
		}
		g := own[i%len(own)].Attributes["GlobalID"]
		if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": g, "Notes": fmt.Sprintf("n%s-%d", iter, i)}}); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		sync(ctx)
	}
}
