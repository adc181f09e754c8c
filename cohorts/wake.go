package cohorts

// Wake asks this process only for an early refresh, without OnNudge: for a nudge another
// process sent. It never blocks; a nil service does nothing.
func (s *Service) Wake() {
	if s == nil {
		return
	}
	select {
	case s.nudges <- struct{}{}:
	default:
	}
}

// Nudged is signalled by Nudge and Wake: a scheduler that runs the check itself (package
// periodic) waits on it instead of the service's own loop.
func (s *Service) Nudged() <-chan struct{} { return s.nudges }
