package cleanroom

import (
	"strings"
	"testing"
)

func TestDealXandrIDs(t *testing.T) {
	li := []LineItem{{ID: "5551234567", Floor: "2.50", Currency: "USD"}}
	for _, tc := range []struct {
		name string
		deal Deal
		want string // a part of the error; "" for valid
	}{
		{"xandr only, no proposal", Deal{XandrDeals: []string{"1234567", "acme.deal-2_b"}}, ""},
		{"gam and xandr", Deal{ProposalID: "42", ProposalName: "Planet - GAM - Acme", LineItems: li, XandrDeals: []string{" 99 "}}, ""},
		{"bad character", Deal{XandrDeals: []string{"12 34"}}, "Xandr deal 1: the ID is not valid"},
		{"empty", Deal{XandrDeals: []string{"1", ""}}, "Xandr deal 2: the ID is not valid"},
		{"too long", Deal{XandrDeals: []string{strings.Repeat("9", MaxXandrDealLength+1)}}, "Xandr deal 1: the ID is not valid"},
		{"twice", Deal{XandrDeals: []string{"7", "7"}}, "Xandr deal 2: 7 is listed twice"},
		{"line items still need a proposal", Deal{LineItems: li, XandrDeals: []string{"7"}}, "proposal ID"},
		{"nothing at all still needs a proposal", Deal{}, "proposal ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.deal.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
