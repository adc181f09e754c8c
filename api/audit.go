package api

import (
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
)

// listAudit shows an org its own entries (including those where it is the partner org); an
// operator acting in no org sees every org's, optionally filtered with ?org_id=.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	page, err := pageOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	es, next, err := s.Accounts.Audit(r.Context(), c.Caller, q.Get("org_id"), q.Get("action"), page)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.AuditEntry]{Items: es, Next: next})
}
