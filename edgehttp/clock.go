package edgehttp

import "time"

// SetClock replaces the server's clock (Options.Now) before any publisher is loaded: the demo
// replays past days of traffic through a server whose clock it moves. Calling it once a
// publisher is served is a data race.
func (s *Server) SetClock(now func() time.Time) { s.opt.Now = now }
