"""Programs: YAML files loaded with a source map, validated, and turned into checked models."""
