"""The versioned FHIR resource store: tables, index writing, reads, writes and search."""
