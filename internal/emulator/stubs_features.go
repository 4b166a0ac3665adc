package emulator

// featureState is owned by featureserver*.go (replace this stub file).
type featureState struct{}

// FeatureServiceOptions configures one emulated feature service.
type FeatureServiceOptions struct{ Name string }

func (s *Server) initFeatures() { s.features = &featureState{} }
