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
	if c.Role == cleanroom.RoleLimited {
		return errorf(cleanroom.EFORBIDDEN, "An invited advertiser reads its audit log in its own organization, where every entry concerning it is listed.")
	}
	f := cleanroom.AuditFilter{OrgID: c.OrgID(), Action: r.URL.Query().Get("action"), Page: page}
	if c.Org == nil {
		if !c.User.Operator {
			return errorf(cleanroom.EFORBIDDEN, "Choose an organization to read its audit log.")
		}
		if q := r.URL.Query().Get("org_id"); q != "" {
			if f.OrgID, err = cleanroom.ParseID("organization ID", q); err != nil {
				return err
			}
		}
	}
	es, next, err := s.Store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, list[*cleanroom.AuditEntry]{Items: es, Next: next})
}
