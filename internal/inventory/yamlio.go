package inventory

import (
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/fastyaml"
)

// parseYAML and encodeYAML are the only places whole files go through a
// YAML library. fastyaml handles the block style nodes.conf is written in
// about ten times faster than yaml.v3 and hands anything else to yaml.v3,
// with the same trees and errors.
func parseYAML(data []byte) (*yaml.Node, error) { return fastyaml.Parse(data) }

func encodeYAML(n *yaml.Node) ([]byte, error) { return fastyaml.Encode(n) }
