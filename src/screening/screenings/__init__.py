"""Mobility screening: Questionnaire forms, scores and flags, extraction into resources."""
