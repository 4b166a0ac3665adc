package offline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// ErrCode is a typed validation failure code; callers branch on it.
type ErrCode string

// Validation codes.
const (
	ErrSource                   ErrCode = "invalidSource"
	ErrAOIEmpty                 ErrCode = "areaOfInterestEmpty"
	ErrAOIInvalid               ErrCode = "areaOfInterestInvalid"
	ErrAOISelfIntersects        ErrCode = "areaOfInterestSelfIntersects"
	ErrAOISpatialReference      ErrCode = "areaOfInterestSpatialReference"
	ErrScales                   ErrCode = "invalidScaleRange"
	ErrTargetNotEmpty           ErrCode = "targetDirectoryNotEmpty"
	ErrTargetNotDirectory       ErrCode = "targetNotDirectory"
	ErrReferenceBasemapMissing  ErrCode = "referenceBasemapMissing"
	ErrReferenceBasemapCoverage ErrCode = "referenceBasemapNotCovering"
	ErrUnknownOverrideKey       ErrCode = "unknownOverrideKey"
	ErrOverride                 ErrCode = "invalidOverride"
	ErrParameter                ErrCode = "invalidParameter"
	ErrTileLimit                ErrCode = "tileCountOverLimit"
	ErrThumbnailMissing         ErrCode = "thumbnailMissing"
)

// ValidationError is a problem found before any server work. Key names the
// layer or service concerned, when there is one.
type ValidationError struct {
	Code    ErrCode `json:"code"`
	Key     Key     `json:"key,omitempty"`
	Message string  `json:"message"`
}

func (e *ValidationError) Error() string { return e.Message }

// Is matches another *ValidationError with the same code, so
// errors.Is(err, &ValidationError{Code: ErrTargetNotEmpty}) works.
func (e *ValidationError) Is(target error) bool {
	var t *ValidationError
	if errors.As(target, &t) {
		return t.Code == e.Code && (t.Key == "" || t.Key == e.Key)
	}
	return false
}

// HasCode reports whether err (possibly joined) holds a validation error
// with the code.
func HasCode(err error, code ErrCode) bool {
	return errors.Is(err, &ValidationError{Code: code})
}

// Check is an extra validation step run by Validate after its own checks:
// the tiles package supplies the tile-count-over-limit check (naming the
// layer and the levels to drop) and reference basemap coverage. It returns
// the problems it found (typically *ValidationError with ErrTileLimit or
// ErrReferenceBasemapCoverage).
type Check func(ctx context.Context, t *Task, p *Parameters, o *Overrides) []error

// Validate checks parameters, overrides and the target directory before any
// server work and returns every problem found, joined (errors.Join of
// *ValidationError): empty, invalid or self-intersecting area, inverted or
// negative scales, a target directory that exists and is not empty (the
// seed's rule: empty or absent), a missing reference basemap file, override
// keys that name nothing in the map (or the wrong kind of layer), and
// invalid override values. Extra checks (tile limits, basemap coverage)
// run last. o may be nil (overrides are then not checked).
func (t *Task) Validate(ctx context.Context, p *Parameters, o *Overrides, dir string, checks ...Check) error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if p == nil {
		return &ValidationError{Code: ErrParameter, Message: "parameters: missing"}
	}
	_, err := PrepareAOI(p.AreaOfInterest, t.Map.SpatialReference)
	add(err)
	add(checkScales(p.MinScale, p.MaxScale))
	add(checkEnums(p))
	add(CheckTargetDir(dir))
	// The web map's referenceBasemapName alone means nothing until the
	// caller names the directory holding it (as in ArcGIS).
	if p.IncludeBasemap && p.ReferenceBasemapDirectory != "" {
		add(checkReferenceBasemap(p))
	}
	if p.ItemInfo != nil && p.ItemInfo.ThumbnailFile != "" {
		if st, err := os.Stat(p.ItemInfo.ThumbnailFile); err != nil || !st.Mode().IsRegular() {
			add(&ValidationError{Code: ErrThumbnailMissing, Message: fmt.Sprintf("item info: thumbnail file %s not found", p.ItemInfo.ThumbnailFile)})
		}
	}
	if o != nil {
		errs = append(errs, t.checkOverrides(o)...)
	}
	for _, c := range checks {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = append(errs, c(ctx, t, p, o)...)
	}
	return errors.Join(onePerProblem(errs)...)
}

// onePerProblem keeps the first error of each (code, key): the parameter,
// override and coverage checks each find a missing reference basemap, and
// the user should read it once.
func onePerProblem(errs []error) []error {
	seen := map[string]bool{}
	out := errs[:0:0]
	for _, err := range errs {
		var ve *ValidationError
		if errors.As(err, &ve) && ve.Code != "" && ve.Code != ErrUnknownOverrideKey && ve.Code != ErrOverride && ve.Code != ErrTileLimit {
			k := string(ve.Code) + "\x00" + string(ve.Key)
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, err)
	}
	return out
}

func checkScales(minScale, maxScale float64) error {
	switch {
	case math.IsNaN(minScale) || math.IsNaN(maxScale) || math.IsInf(minScale, 0) || math.IsInf(maxScale, 0):
		return &ValidationError{Code: ErrScales, Message: "scale range: not a number"}
	case minScale < 0 || maxScale < 0:
		return &ValidationError{Code: ErrScales, Message: fmt.Sprintf("scale range: minScale %g / maxScale %g must not be negative", minScale, maxScale)}
	case minScale != 0 && maxScale != 0 && maxScale > minScale:
		return &ValidationError{Code: ErrScales, Message: fmt.Sprintf("scale range inverted: maxScale 1:%g is smaller-scale than minScale 1:%g (minScale is the most zoomed-out scale, so it must be the larger number)", maxScale, minScale)}
	}
	return nil
}

func checkEnums(p *Parameters) error {
	var errs []error
	bad := func(name, v string) {
		errs = append(errs, &ValidationError{Code: ErrParameter, Message: fmt.Sprintf("parameters: %s %q is not a valid value", name, v)})
	}
	switch p.OnlineOnlyServicesOption {
	case OnlineOnlyExclude, OnlineOnlyInclude, OnlineOnlyUseAuthoredSettings:
	default:
		bad("onlineOnlyServicesOption", string(p.OnlineOnlyServicesOption))
	}
	switch p.UpdateMode {
	case UpdateSyncWithFeatureServices, UpdateNoUpdates:
	default:
		bad("updateMode", string(p.UpdateMode))
	}
	switch p.DestinationTableRowFilter {
	case RowFilterRelatedOnly, RowFilterAll:
	default:
		bad("destinationTableRowFilter", string(p.DestinationTableRowFilter))
	}
	switch p.ReturnLayerAttachmentOption {
	case AttachmentsNone, AttachmentsAllLayers, AttachmentsReadOnlyLayers, AttachmentsEditableLayers:
	default:
		bad("returnLayerAttachmentOption", string(p.ReturnLayerAttachmentOption))
	}
	if !validAttachmentSync(p.AttachmentSyncDirection) {
		bad("attachmentSyncDirection", string(p.AttachmentSyncDirection))
	}
	return errors.Join(errs...)
}

func validAttachmentSync(d AttachmentSyncDirection) bool {
	switch d {
	case AttachmentSyncNone, AttachmentSyncUpload, AttachmentSyncBidirectional:
		return true
	}
	return false
}

// CheckTargetDir applies the seed's rule to an offline map directory: it
// must be empty or absent (the job creates it). A path that exists and is
// not a directory is refused too.
func CheckTargetDir(dir string) error {
	if dir == "" {
		return &ValidationError{Code: ErrParameter, Message: "target directory: not set"}
	}
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &ValidationError{Code: ErrTargetNotDirectory, Message: fmt.Sprintf("target directory %s: %v", dir, err)}
	}
	if !st.IsDir() {
		return &ValidationError{Code: ErrTargetNotDirectory, Message: fmt.Sprintf("target directory %s exists and is not a directory", dir)}
	}
	f, err := os.Open(dir)
	if err != nil {
		return &ValidationError{Code: ErrTargetNotDirectory, Message: fmt.Sprintf("target directory %s: %v", dir, err)}
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return &ValidationError{Code: ErrTargetNotDirectory, Message: fmt.Sprintf("target directory %s: %v", dir, err)}
	}
	if len(names) > 0 {
		return &ValidationError{Code: ErrTargetNotEmpty, Message: fmt.Sprintf("target directory %s is not empty (it must be empty or absent)", dir)}
	}
	return nil
}

func checkReferenceBasemap(p *Parameters) error {
	if p.ReferenceBasemapDirectory == "" || p.ReferenceBasemapFilename == "" {
		return &ValidationError{Code: ErrReferenceBasemapMissing, Message: fmt.Sprintf(
			"reference basemap: directory %q set but no file name", p.ReferenceBasemapDirectory)}
	}
	path := p.ReferenceBasemapPath()
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return &ValidationError{Code: ErrReferenceBasemapMissing, Message: fmt.Sprintf("reference basemap %s not found on the device", path)}
	}
	return nil
}
