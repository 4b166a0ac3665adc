package localapi

import (
	"context"
	"net/http"
	"strings"
)

// PortalSignIn signs the daemon in to its portal from the page with the
// OAuth authorization code flow (internal/daemon implements it).
type PortalSignIn interface {
	// Begin starts a sign-in that returns to redirectURI and then to the
	// page at returnTo; it gives the portal's authorize URL.
	Begin(ctx context.Context, redirectURI, returnTo string) (string, error)
	// Complete finishes the sign-in the redirect with state belongs to
	// and stores it; it gives the page to return to.
	Complete(ctx context.Context, state, code, authErr string) (string, error)
}

// callbackPath is where the portal sends the browser back.
const callbackPath = "/oauth/callback"

// postPortalSignIn serves POST /api/v1/portal/signin.
func (s *Server) postPortalSignIn(w http.ResponseWriter, r *http.Request) error {
	if s.opts.SignIn == nil {
		return &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Field: "portal", Message: "no portal configured: start the daemon with -portal"}
	}
	var body struct {
		ReturnTo string `json:"returnTo"`
	}
	if r.ContentLength != 0 {
		if err := decodeBody(r, &body); err != nil {
			return err
		}
	}
	if body.ReturnTo == "" {
		body.ReturnTo = "/ui/"
	}
	if !strings.HasPrefix(body.ReturnTo, "/ui/") {
		return badRequest("returnTo", "returnTo must be a page path (/ui/…)")
	}
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	u, err := s.opts.SignIn.Begin(r.Context(), scheme+r.Host+callbackPath, body.ReturnTo)
	if err != nil {
		return &Error{Status: http.StatusConflict, Code: "signInUnavailable", Field: "clientId", Message: err.Error()}
	}
	writeJSON(w, http.StatusOK, map[string]any{"authorizeUrl": u})
	return nil
}

// portalCallback serves GET /oauth/callback, where the portal returns the
// browser: no API token (the browser comes from the portal); the state of
// a sign-in begun by an authenticated request is the proof.
func (s *Server) portalCallback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if s.opts.SignIn == nil {
		writeError(w, &Error{Status: http.StatusNotFound, Code: "notFound", Field: "path", Message: "no such route"})
		return
	}
	q := r.URL.Query()
	back, err := s.opts.SignIn.Complete(r.Context(), q.Get("state"), q.Get("code"), q.Get("error"))
	if back == "" {
		writeError(w, &Error{Status: http.StatusBadRequest, Code: "signInFailed", Field: "state", Message: errText(err)})
		return
	}
	sep := "?"
	if strings.Contains(back, "?") {
		sep = "&"
	}
	if err != nil {
		// The page shows why.
		http.Redirect(w, r, back+sep+"signin=failed", http.StatusSeeOther)
		s.log.Warn("portal sign-in from the page failed", "err", err)
		return
	}
	http.Redirect(w, r, back+sep+"signin=ok", http.StatusSeeOther)
}

func errText(err error) string {
	if err == nil {
		return "sign-in failed"
	}
	return err.Error()
}
