package tiles

// vtpkTilemap builds the presence quadtree of p12/tilemap/root.json:
// {"index": node} where a node is 0 (tile absent), 1 (tile present at the
// deepest exported level) or [upper-left, upper-right, lower-left,
// lower-right] children of a present tile. Levels above the first exported
// one are present when a descendant is (the de-facto layout third-party
// VTPK readers and writers use; Esri publishes no spec).
func vtpkTilemap(levels []int, covers [][]rowCover) map[string]any {
	maxLevel := levels[len(levels)-1]
	present := make([]map[[2]int]bool, maxLevel+1)
	exported := map[int]int{}
	for i, z := range levels {
		exported[z] = i
	}
	for z := maxLevel; z >= 0; z-- {
		present[z] = map[[2]int]bool{}
		if i, ok := exported[z]; ok {
			for _, rc := range covers[i] {
				for _, sp := range rc.spans {
					for c := sp[0]; c <= sp[1]; c++ {
						present[z][[2]int{rc.row, c}] = true
					}
				}
			}
			continue
		}
		for k := range present[z+1] {
			present[z][[2]int{k[0] / 2, k[1] / 2}] = true
		}
	}
	var node func(z, row, col int) any
	node = func(z, row, col int) any {
		if !present[z][[2]int{row, col}] {
			return 0
		}
		if z == maxLevel {
			return 1
		}
		return []any{node(z+1, 2*row, 2*col), node(z+1, 2*row, 2*col+1), node(z+1, 2*row+1, 2*col), node(z+1, 2*row+1, 2*col+1)}
	}
	return map[string]any{"index": node(0, 0, 0)}
}
