// Package layering holds the test that keeps the direction of imports
// between this module's packages: format packages import nothing of
// ours, the node programs (wwclient, wwstage1) are built from format,
// contract and node packages only, build packages never import serving
// or front-end packages, nothing but cmd/wwctl imports the CLI,
// nothing but the CLI imports the daemon, and the product never imports
// the test BMCs under test/.
package layering
