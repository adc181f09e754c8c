package api

import (
	"encoding/csv"
	"net/http"

	"github.com/cleanroom-oss/cleanroom"
)

// connectionDelivery answers a connection's delivery report (?from=, ?to=, ?cohort_id=) as JSON,
// or as CSV with ?format=csv. The delivery service applies every rule and releases the numbers.
func (s *Server) connectionDelivery(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Delivery == nil {
		return cleanroom.Errorf(cleanroom.ENOTFOUND, "This server has no delivery reports.")
	}
	id, err := pathID(r, "id", "Connection")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return cleanroom.Errorf(cleanroom.EINVALID, "The format must be json or csv.").With("field", "format")
	}
	rep, err := s.Delivery.Cohort(r.Context(), c.Caller, q.Get("cohort_id"), id, q.Get("from"), q.Get("to"))
	if q.Get("cohort_id") == "" {
		rep, err = s.Delivery.Connection(r.Context(), c.Caller, id, q.Get("from"), q.Get("to"))
	}
	if err != nil {
		return err
	}
	if format != "csv" {
		return c.reply(http.StatusOK, rep)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="delivery-`+rep.ConnectionID+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	c.status = 0 // written here
	cw := csv.NewWriter(w)
	cw.WriteAll(rep.CSV())
	return cw.Error()
}
