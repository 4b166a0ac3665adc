package emulator

import "github.com/offlined/offlined/internal/emulator/features"

// Feature service options (package features).
type (
	// FeatureServiceOptions configures one emulated feature service.
	FeatureServiceOptions = features.FeatureServiceOptions
	// LayerOptions configures one layer or table of a feature service.
	LayerOptions = features.LayerOptions
)

// DemoFeatureService returns the options of the demo Field_Survey service.
func DemoFeatureService() FeatureServiceOptions { return features.DemoFeatureService() }

// ReferenceDataService returns the options of the demo Reference_Data service.
func ReferenceDataService() FeatureServiceOptions { return features.ReferenceDataService() }
