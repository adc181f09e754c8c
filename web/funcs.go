package web

import (
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
)

// dashboardFuncs are the template functions of the general pages (settings, jobs, connections).
var dashboardFuncs = map[string]any{
	// roles are the roles a person may be given in the dashboard's forms.
	"roles": func() []string {
		return []string{string(cleanroom.RoleAdmin), string(cleanroom.RoleMember), string(cleanroom.RoleViewer)}
	},
	// percent is done of total as a whole percentage.
	"percent": func(done, total int64) string {
		if total <= 0 {
			return ""
		}
		return fmt.Sprintf("%d%%", min(100, done*100/total))
	},
}
