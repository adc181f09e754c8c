package activation

import "testing"

func TestNamingConvention(t *testing.T) {
	tests := []struct{ got, want string }{
		{ProposalName("Daily Courier", "GAM", "Northwind", "Blue Agency"), "Daily Courier - GAM - Northwind - Blue Agency"},
		{ProposalName("Daily Courier", "GAM", "Northwind", ""), "Daily Courier - GAM - Northwind"},
		{DealName("GAM", "Northwind", "01900000-0000-7000-8000-000000000001"), "GAM - Northwind - 01900000-0000-7000-8000-000000000001"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
