package app

import (
	"fmt"

	"github.com/cleanroom-oss/cleanroom"
	"github.com/cleanroom-oss/cleanroom/disclosure"
	"github.com/cleanroom-oss/cleanroom/keyring"
	"github.com/cleanroom-oss/cleanroom/privacy"
)

// disclosure builds the release gate from the deployment's privacy flags.
func (c *Config) disclosure(store cleanroom.Store, keys *keyring.Master) (*disclosure.Service, error) {
	d := disclosure.Deployment{K: int64(c.PrivacyThreshold), InputMinimum: c.PrivacyInputMinimum}
	if c.PrivacyThreshold < 1 {
		return nil, fmt.Errorf("--privacy-threshold must be at least 1")
	}
	if c.PrivacyInputMinimum < 0 {
		return nil, fmt.Errorf("--privacy-input-minimum must not be negative")
	}
	var err error
	if d.MaxEpsilon, err = privacy.ParseEpsilon(orDefault(c.PrivacyEpsilon, "0.5")); err != nil {
		return nil, fmt.Errorf("--privacy-epsilon: %s", cleanroom.ErrorMessage(err))
	}
	if d.Budget, err = privacy.ParseEpsilon(orDefault(c.PrivacyBudget, "10")); err != nil {
		return nil, fmt.Errorf("--privacy-budget: %q is not a positive number with at most six decimals", c.PrivacyBudget)
	}
	if d.Budget < d.MaxEpsilon {
		return nil, fmt.Errorf("--privacy-budget %s is smaller than --privacy-epsilon %s: no question could be answered", d.Budget, d.MaxEpsilon)
	}
	if d.Period, err = privacy.ParsePeriod(c.PrivacyPeriod); err != nil {
		return nil, fmt.Errorf("--privacy-period: %s", cleanroom.ErrorMessage(err))
	}
	if d.Mechanism, err = privacy.ParseMechanism(c.PrivacyNoise); err != nil {
		return nil, fmt.Errorf("--privacy-noise: %s", cleanroom.ErrorMessage(err))
	}
	return disclosure.New(store, keys.Derive(disclosure.KeyPurpose), d), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
