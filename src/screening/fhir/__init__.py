"""FHIR machinery with no web framework: packages, definitions, OperationOutcome."""
