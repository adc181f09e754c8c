-- A cohort can be "inactive": built, but served at no publisher (its status reason says why).
ALTER TABLE cohorts DROP CONSTRAINT cohorts_status_check;
ALTER TABLE cohorts ADD CONSTRAINT cohorts_status_check
	CHECK (status IN ('building', 'training', 'awaiting_selection', 'active', 'inactive', 'failed', 'paused'));
