// Prints, for each case, what gopkg.in/yaml.v2 (the encoder Kyverno's denial message uses) makes of a
// policy -> rule -> message map, as a C# verbatim-free JSON list the unit tests are checked against.
// Run: build/goyaml-oracle/run.sh (needs Debian's golang-go and golang-gopkg-yaml.v2-dev).
package main

import (
	"encoding/json"
	"os"

	"gopkg.in/yaml.v2"
)

type testCase struct {
	Name   string                       `json:"name"`
	Input  map[string]map[string]string `json:"input"`
	Output string                       `json:"output"`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	for i := range cases {
		// Kyverno marshals a map[string]interface{} whose values are map[string]string.
		failures := make(map[string]interface{})
		for policy, rules := range cases[i].Input {
			failures[policy] = rules
		}
		out, err := yaml.Marshal(failures)
		if err != nil {
			panic(err)
		}
		cases[i].Output = string(out)
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetIndent("", "  ")
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(cases); err != nil {
		panic(err)
	}
}
