package emulator

// tileState is owned by tileserver*.go and vectortiles*.go (replace this stub file).
type tileState struct{}

// TileOptions configures the emulated tile services.
type TileOptions struct{}

func (s *Server) initTiles() { s.tiles = &tileState{} }
