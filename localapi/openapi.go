package localapi

// OpenAPIDocument returns the embedded OpenAPI document served at
// /api/v1/openapi.json (for contract tests in other packages).
func OpenAPIDocument() []byte {
	b, err := openapiFS.ReadFile("openapi.json")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}
