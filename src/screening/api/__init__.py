"""The FHIR REST door: `/fhir`."""
