//go:build !unix

package local

// renameFromPartials moves the partial file id onto target, a checked name in the home.
func (h *Home) renameFromPartials(id, target string) error {
	return h.root.Rename(partialDir+"/"+id, target)
}
