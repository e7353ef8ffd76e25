"""Patients: register, edit, find and show screened persons (pages, service, FHIR mapping)."""
