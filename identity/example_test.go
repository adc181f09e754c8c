package identity_test

import (
	"fmt"

	"github.com/cleanroom-oss/cleanroom/identity"
)

func ExampleNormalize() {
	digest, err := identity.Normalize(identity.TagEmailSHA256, "lz3+Rj7IV4X1+Vr1ujkG7tstkxwk5pgkqJ6mXbpOgTs=")
	fmt.Println(digest, err)

	_, err = identity.Normalize(identity.TagEmailSHA256, "test@example.com")
	fmt.Println(identity.ReasonOf(err))
	fmt.Println(err.(*identity.ValueError).Hint)
	// Output:
	// 973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b <nil>
	// raw_email
	// Trim and lowercase the address, SHA-256 it, and upload the 64-character hex digest (cleanroom prepare does this locally).
}

func ExampleParseTag() {
	registry, err := identity.NewRegistry("bridge_id")
	if err != nil {
		panic(err)
	}
	for _, s := range []string{"IDFA", "sha256_email", "Bridge_ID", "emial_sha256"} {
		tag, err := identity.ParseTag(registry, s)
		fmt.Printf("%q %v\n", tag, err)
	}
	// Output:
	// "maid" <nil>
	// "email_sha256" <nil>
	// "bridge_id" <nil>
	// "" unknown identifier type; did you mean email_sha256?
}

func ExampleHashEmail() {
	digest, err := identity.HashEmail(" Jane.Doe+Marketing@GMAIL.com", true)
	fmt.Println(digest, err)
	// Output:
	// d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69 <nil>
}

func ExampleNormalizePhone() {
	for _, raw := range []string{"020 7946 0958", "+44 (0)20 7946 0958", "0044 20 7946 0958"} {
		phone, err := identity.NormalizePhone(raw, "44")
		fmt.Println(phone, err)
	}
	// Output:
	// +442079460958 <nil>
	// +442079460958 <nil>
	// +442079460958 <nil>
}

func ExampleFingerprinter() {
	key := make([]byte, identity.FingerprintKeySize) // in a deployment: derived from the master key
	for i := range key {
		key[i] = byte(i)
	}
	f, err := identity.NewFingerprinter(key)
	if err != nil {
		panic(err)
	}
	value, err := identity.Normalize(identity.TagMAID, "6D92078A-8246-4BA4-AE5B-76104861E7DC")
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Fingerprint(identity.TagMAID, value))
	// Output:
	// 3cd0b65429f59cc392503bd3981910ad
}
