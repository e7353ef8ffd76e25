"""AuditEvents for every access to patient data, through every door."""
